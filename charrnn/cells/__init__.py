"""The recurrent cells, one module each, and the one table that names them.

A cell module holds everything about its cell and nothing else needs to know
its arithmetic (lstm.py is the fullest example):

- ``STATES``: the names of its carried state, ("h",) or ("h", "c"); h first.
- ``SHOWN``: (state name, squash or None): what ``charrnn viz`` shows of a unit.
- ``TORCH``: the TorchModule with the same equations, or None (export).
- ``layer_shapes(l, V, H)``: layer l's parameters [(name, shape)] in the flat
  buffer's order, and ``init_layer(p, l, H, rng)``: its values after the
  model's uniform draw (biases; embeddings).
- ``forward(p, l, x, state0, ws, blocks, keep)``: layer l over a chunk (x:
  ids at layer 0, the layer below's hidden states above), returning every
  step's state (S sequences of (T+1, B, H), [0] the carried-in state), and,
  with ``keep``, keeping in the Workspace what backward needs (without it,
  layers share their buffers: buffers.layer_buffer).
- ``replay(...)``: remake what forward did not keep (called by the model
  before the layer's output is needed again);
- ``backward(...)`` over the recurrence, then ``weight_grads(...)``.
- ``step_weights(p, l, V, H, pack)``, a NamedTuple class of a name of its own
  (its matrices packed by ``pack``: rows.packed in a precision),
  and a compiled ``step`` registered with step.register_step for that
  class: one character, for generation.

A module of gated cells (gru.py, mut1-3.py) holds instead one ``CELL``, a
gated.GatedLayers of its Spec, which has the same names.

Adding a cell is one module, one line in CELLS and its NumPy reference in
tests/reference.py (the tests take their cells from CELLS, and fail for a
cell without a reference).  Every cell module satisfies the protocol that
tests/cells/test_protocol.py checks.
"""

import importlib
from typing import NamedTuple

from ..errors import CharrnnError


class TorchModule(NamedTuple):
    """The torch.nn module with a cell's very equations (``TORCH``), for export."""

    name: str  # in torch.nn
    gate_order: str  # its gate names in PyTorch's column order ("" for one block)
    blocks: tuple  # charrnn's H-wide gate blocks, in PyTorch's order


# name -> module (relative to this package, or absolute); imported when
# first used, so that the command line knows the names without loading Numba.
CELLS = {
    "lstm": ".lstm",
    "gru": ".gru",
    "rnn": ".rnn",
    "mut1": ".mut1",
    "mut2": ".mut2",
    "mut3": ".mut3",
}


def get(name):
    """The module of the cell called ``name``."""
    if name not in CELLS:
        raise CharrnnError(f"unknown cell {name!r}; the cells are {', '.join(CELLS)}")
    module = importlib.import_module(CELLS[name], __name__)
    return getattr(module, "CELL", module)
