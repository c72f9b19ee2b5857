"""One step of a layer, for generation: the compiled loops of decode.py call
``cell_step`` and Numba picks the cell's own step kernel by the type of its
weights, a NamedTuple class of the cell's module (``register_step``).  The
loops stay generic and cacheable (a function passed as an argument would be
recompiled in every process), and no table of cells is consulted at run time.

A cell's step is made of the pointwise kernels its training uses (one
definition of its arithmetic); only the products differ, a few rows here
against the whole chunk's batch there.  Cells that store one fused matrix
[W_x; W_h] per layer (``w<l>``) share their step weights (``dense_weights``)
and the reading of their input (``dense_inputs``).
"""

from typing import NamedTuple

import numpy as np
from numba import types
from numba.extending import overload

from ..kernels.jit import inner_kernel
from ..kernels.rows import PackedWeights, add_product, packed_columns


def cell_step(weights, ids, below, state, work):
    """Advance one layer of K sequences by one character, in place.

    weights  the layer's step weights (the cell's NamedTuple, ``step_weights``)
    ids      (K,) the characters just read (used by layer 0)
    below    (K, H) the new hidden state of the layer below (layers above 0)
    state    (S, K, H) this layer's state: state[0] is h
    work     (K, weights.work_columns) scratch
    """
    raise NotImplementedError("only callable from compiled code")


STEP_CLASSES = set()  # the step weights classes registered


def register_step(weights_class, step):
    """Make ``cell_step`` run the compiled ``step`` for weights of ``weights_class``.
    Its name must be unique among the cells: Numba names compiled code by the
    names of the argument types, and two cells' loops must not share a name."""
    STEP_CLASSES.add(weights_class)

    @overload(cell_step)
    def _typed(weights, ids, below, state, work):
        if isinstance(weights, types.BaseNamedTuple) and weights.instance_class is weights_class:
            return lambda weights, ids, below, state, work: step(weights, ids, below, state, work)


def dense_weights_class(name, module):
    """A NamedTuple class ``name`` of ``module`` for a dense cell's step weights."""
    cls = NamedTuple(
        name,
        [
            ("lookup", np.ndarray),  # (V, G) layer 0's W_x, a row per character; (0, G) above
            ("w_in", PackedWeights),  # W_x above layer 0 (rows.packed); none at layer 0
            ("w_h", PackedWeights),  # W_h
            ("bias", np.ndarray),  # (G,)
            ("work_columns", int),  # the pre-activations, padded to whole panels
        ],
    )
    cls.__module__ = module  # where Numba's cache finds it again
    return cls


def dense_weights(weights_class, p, l, V, H, G, pack):
    """Layer l's step weights for a cell with ``w<l>`` (D + H, G) = [W_x; W_h]
    and ``b<l>`` (G), its matrices packed by ``pack`` (rows.packed in a
    precision); layer 0's lookup and the bias stay float32."""
    w = p[f"w{l}"]
    lookup = np.ascontiguousarray(w[:V], np.float32) if l == 0 else np.zeros((0, G), np.float32)
    w_in = pack(w[:H] if l > 0 else np.zeros((0, G), np.float32))
    return weights_class(
        lookup, w_in, pack(w[-H:]), np.asarray(p[f"b{l}"], np.float32), packed_columns(G)
    )


@inner_kernel
def dense_inputs(weights, ids, below, pre, G):
    """pre[:, :G] = the layer's input term, x @ W_x: a row of the lookup per
    character at layer 0, else the product with the layer below's h.  The
    bias is added by the cell's pointwise arithmetic, as in training."""
    if weights.lookup.shape[0] > 0:
        for k in range(ids.shape[0]):
            pre[k, :G] = weights.lookup[ids[k]]
    else:
        pre[:, :G] = 0.0
        add_product(below, weights.w_in, pre)
