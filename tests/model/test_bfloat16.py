"""Mixed-precision training: every cell's loss and gradients with its
products in bfloat16 (AMX) against float64, within a bound that follows
from bfloat16's precision, and against float32 to show the bfloat16 path
ran.  Every registered cell, three layers (backward remakes state), both
ways the threads share the recurrence, a width whose recurrent products
run on AMX (64) and one that keeps them in float32 (40)."""

import numpy as np
import pytest

from charrnn import cells
from charrnn.kernels import amx
from charrnn.kernels.buffers import Workspace
from charrnn.model import ModelConfig, backward, dropout_masks, forward, init_params, zero_state

pytestmark = pytest.mark.skipif(not amx.AVAILABLE, reason="this CPU or OS offers no AMX tiles")

# bfloat16 keeps 8 significant bits: each operand is off by at most 2^-9 of
# itself, a product by about 2^-8.  Gradients pass through a few products
# (the decoder, the layers above, the recurrence): a few times 2^-8 in all,
# as a norm over all parameters (the errors do not line up).
BFLOAT16_BOUND = 4 * 2.0**-8


def loss_and_grads(params64, cfg, inputs, targets, masks, dtype, precision, blocks):
    ws = Workspace(precision)
    p = params64.astype(dtype)
    state0 = zero_state(cfg, inputs.shape[1], dtype)
    loss, _, cache = forward(
        p, cfg, inputs, targets, state0, None if masks is None else masks.astype(dtype),
        grad_scale=1.0 / inputs.size, blocks=blocks, workspace=ws,
    )  # fmt: skip
    grads = np.zeros(params64.shape, dtype)
    backward(p, cfg, cache, grads, blocks)
    return loss / inputs.size, grads


@pytest.mark.parametrize("cell", list(cells.CELLS))
@pytest.mark.parametrize("hidden,B", [(64, 3), (64, 8), (40, 8)])  # units / streams split
def test_bfloat16_gradients_within_bfloat16_precision_of_float64(cell, hidden, B, rng):
    cfg = ModelConfig(vocab_size=13, hidden=hidden, layers=3, dropout=0.2, cell=cell)
    params64 = init_params(cfg, rng, np.float64)
    inputs, targets = rng.integers(0, 13, (12, B)), rng.integers(0, 13, (12, B))
    masks = dropout_masks(cfg, rng, 12, B, np.float64)
    args = (params64, cfg, inputs, targets, masks)
    loss64, g64 = loss_and_grads(*args, np.float64, "float32", 2)
    loss32, g32 = loss_and_grads(*args, np.float32, "float32", 2)
    loss16, g16 = loss_and_grads(*args, np.float32, "bfloat16", 2)
    norm = np.linalg.norm(g64)
    error16, error32 = np.linalg.norm(g16 - g64) / norm, np.linalg.norm(g32 - g64) / norm
    assert error16 < BFLOAT16_BOUND, (error16, BFLOAT16_BOUND)
    assert error32 < 1e-5 and error16 > 10 * error32  # the products did round to bfloat16
    assert abs(loss16 - loss64) < BFLOAT16_BOUND * loss64 and abs(loss32 - loss64) < 1e-6


@pytest.mark.parametrize("cell", list(cells.CELLS))
def test_bfloat16_training_is_deterministic(cell, rng):
    cfg = ModelConfig(vocab_size=13, hidden=64, layers=2, cell=cell)
    params64 = init_params(cfg, rng, np.float64)
    inputs, targets = rng.integers(0, 13, (10, 8)), rng.integers(0, 13, (10, 8))
    once = loss_and_grads(params64, cfg, inputs, targets, None, np.float32, "bfloat16", 2)
    again = loss_and_grads(params64, cfg, inputs, targets, None, np.float32, "bfloat16", 2)
    assert once[0] == again[0] and np.array_equal(once[1], again[1])
