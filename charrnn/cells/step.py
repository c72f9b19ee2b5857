"""One step of a layer, for generation: the compiled loops of decode.py call
``cell_step`` and Numba picks the cell's own step kernel by the type of its
weights, a NamedTuple class of the cell's module (``register_step``).  The
loops stay generic and cacheable (a function passed as an argument would be
recompiled in every process), and no table of cells is consulted at run time.
"""
from numba import types
from numba.extending import overload


def cell_step(weights, ids, below, state, work):
    """Advance one layer of K sequences by one character, in place.

    weights  the layer's step weights (the cell's NamedTuple, ``step_weights``)
    ids      (K,) the characters just read (used by layer 0)
    below    (K, H) the new hidden state of the layer below (layers above 0)
    state    (S, K, H) this layer's state: state[0] is h
    work     (K, weights.work_columns) scratch
    """
    raise NotImplementedError("only callable from compiled code")


def register_step(weights_class, step):
    """Make ``cell_step`` run the compiled ``step`` for weights of ``weights_class``.
    Its name must be unique among the cells: Numba names compiled code by the
    names of the argument types, and two cells' loops must not share a name."""
    @overload(cell_step)
    def _typed(weights, ids, below, state, work):
        if isinstance(weights, types.BaseNamedTuple) and weights.instance_class is weights_class:
            return lambda weights, ids, below, state, work: step(weights, ids, below, state, work)
