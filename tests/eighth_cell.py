"""A throwaway eighth cell, unlike the six: a simple gated unit with no reset
gate and no cell state,

    z   = sigm(W_xz x + W_hz h + b_z)
    c   = tanh(W_xc x + W_hc h + b_c)
    h_t = z * h + (1 - z) * c

written as a cell module of charrnn would be, on cells/recurrence.py's
schedule (one phase), to show that a new cell is one module and one line in
CELLS (tests/conftest.py adds it when CHARRNN_TEST_EIGHTH_CELL is set;
test_registry.py runs the suite so).  Its reference, written from the
equations above, is ``reference_step``.

Parameters of layer l: ``w<l>`` (D + H, 2H) = [W_x; W_h], columns z, c, and
``b<l>`` (2H).  State: (h,).  Forward keeps every layer's hiddens and gates.
"""

from typing import NamedTuple

import numpy as np

from charrnn.cells import recurrence
from charrnn.cells.inputs import input_product, stacked_weight_grads
from charrnn.cells.recurrence import strips_product
from charrnn.cells.step import dense_inputs, dense_weights, dense_weights_class, register_step
from charrnn.kernels.activations import sigmoid, tanh
from charrnn.kernels.blas import AS_IS, TRANSPOSED
from charrnn.kernels.buffers import layer_buffer
from charrnn.kernels.jit import inner_kernel, kernel
from charrnn.kernels.rows import add_product, packed
from charrnn.kernels.products import recurrent_panels
from charrnn.kernels.tiles import ACCUMULATE, OVERWRITE, product

STATES = ("h",)
SHOWN = ("h", None)
TORCH = None
ONE = np.float32(1.0)


def layer_shapes(l, V, H):
    return [(f"w{l}", ((V if l == 0 else H) + H, 2 * H)), (f"b{l}", (2 * H,))]


def init_layer(p, l, H, rng):
    p[f"b{l}"][:] = 0.0


class SGUForward(NamedTuple):
    gates: np.ndarray  # (T, B, 2H) in: x_t @ W_x; out: the activated z, c
    hiddens: np.ndarray  # (T+1, B, H)
    w_h: np.ndarray  # (H, 2H)
    bias: np.ndarray  # (2H,)
    panels: np.ndarray
    phases: int = 1


class SGUBackward(NamedTuple):
    gates: np.ndarray  # (T, B, 2H) in: activated; out: pre-activation gradients
    hiddens: np.ndarray
    dh: np.ndarray  # (T, B, H)
    dh_next: np.ndarray  # (B, H); out: dL/dh0
    carry: np.ndarray  # (B, H) the direct part z * dL/dh_t of dL/dh_{t-1}
    w_h: np.ndarray
    panels: np.ndarray  # W_h.T packed
    phases: int = 1


def forward(p, l, x, state0, ws, blocks, keep=True):
    w, H = p[f"w{l}"], state0.shape[-1]
    T, B = x.shape[:2]
    gates = ws.take(layer_buffer("gates", l, keep), (T, B, 2 * H), w.dtype)
    input_product(x, w[:-H], gates, blocks, ws)
    hiddens = ws.take(f"hiddens{l if keep else l % 2}", (T + 1, B, H), w.dtype)
    hiddens[0] = state0[0]
    w_h = w[-H:]
    panels = recurrent_panels(ws, "panels", w_h, transposed=False)
    recurrence.run_forward(SGUForward(gates, hiddens, w_h, p[f"b{l}"], panels), blocks)
    return (hiddens,)


def replay(p, l, state0, hiddens, with_hiddens, ws, blocks):
    """Nothing to remake: forward keeps every layer's hiddens."""


def backward(p, g, l, dh, dstate0, hiddens, ws, blocks):
    T, B, H = dh.shape
    w_h = p[f"w{l}"][-H:]
    cell = SGUBackward(
        ws.take(f"gates{l}", (T, B, 2 * H), dh.dtype),
        hiddens,
        dh,
        dstate0[0],
        ws.take("carry", (B, H), dh.dtype),
        w_h,
        recurrent_panels(ws, "panels", w_h, transposed=True),
    )
    recurrence.run_backward(cell, g[f"b{l}"], blocks)


def weight_grads(p, g, l, x, hiddens, dx, ws, blocks):
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    stacked_weight_grads(
        x,
        hiddens,
        ws.take(f"gates{l}", (T, B, 2 * H), hiddens.dtype),
        p[f"w{l}"],
        g[f"w{l}"],
        dx,
        blocks,
        ws,
    )


@kernel
def _forward_phase(cell, phase, t, r0, r1, u0, u1):
    H = cell.hiddens.shape[2]
    gates = cell.gates[t, r0:r1]
    strips_product(
        cell.hiddens[t, r0:r1], cell.w_h, cell.panels, 0, 2, H, u0, u1, gates, ACCUMULATE, AS_IS
    )
    _units_forward(gates, cell.bias, cell.hiddens[t, r0:r1], cell.hiddens[t + 1, r0:r1], u0, u1)


@kernel
def _units_forward(gates, bias, h_prev, h, lo, hi):
    """z, c and h_t of units lo..hi-1: gates (B, >= 2H) less the bias in."""
    B, H = h.shape
    for b in range(B):
        g, hp, out = gates[b], h_prev[b], h[b]
        for j in range(lo, hi):
            z = sigmoid(g[j] + bias[j])
            c = tanh(g[H + j] + bias[H + j])
            g[j], g[H + j] = z, c
            out[j] = z * hp[j] + (ONE - z) * c


@kernel
def _backward_phase(cell, phase, t, r0, r1, u0, u1, dbias):
    if t == cell.dh.shape[0] - 1:
        cell.dh_next[r0:r1, u0:u1] = 0.0
    else:
        _through_w_h(cell, t + 1, r0, r1, u0, u1)
    H = cell.dh.shape[2]
    g, hp, dh = cell.gates[t, r0:r1], cell.hiddens[t, r0:r1], cell.dh[t, r0:r1]
    dh_next, carry = cell.dh_next[r0:r1], cell.carry[r0:r1]
    for b in range(g.shape[0]):
        for j in range(u0, u1):
            d = dh[b, j] + dh_next[b, j]
            z, c = g[b, j], g[b, H + j]
            g[b, j] = d * (hp[b, j] - c) * z * (ONE - z)
            g[b, H + j] = d * (ONE - z) * (ONE - c * c)
            carry[b, j] = d * z
            dbias[j] += g[b, j]
            dbias[H + j] += g[b, H + j]


@kernel
def _through_w_h(cell, t, r0, r1, u0, u1):
    """dL/dh_{t-1} (units u0..u1) = dgates[t] @ W_h.T + the direct part."""
    dh_next = cell.dh_next[r0:r1]
    product(cell.gates[t, r0:r1], cell.w_h, cell.panels, u0, u1, dh_next, OVERWRITE, TRANSPOSED)
    dh_next[:, u0:u1] += cell.carry[r0:r1, u0:u1]


@kernel
def _backward_end(cell, r0, r1, u0, u1):
    _through_w_h(cell, 0, r0, r1, u0, u1)


recurrence.register(SGUForward, SGUBackward, _forward_phase, _backward_phase, _backward_end)

SGUStepWeights = dense_weights_class("SGUStepWeights", __name__)


def step_weights(p, l, V, H, pack=packed):
    return dense_weights(SGUStepWeights, p, l, V, H, 2 * H, pack)


@inner_kernel
def step(weights, ids, below, state, work):
    H = state.shape[2]
    dense_inputs(weights, ids, below, work, 2 * H)
    add_product(state[0], weights.w_h, work)
    _units_forward(work, weights.bias, state[0], state[0], 0, H)


register_step(SGUStepWeights, step)


def reference_step(p, l, x, state):
    """The equations in float64 NumPy (tests/reference.py's form)."""
    h = state[0]
    w, b = p[f"w{l}"], p[f"b{l}"]
    H = h.shape[1]
    a = np.concatenate([x, h], axis=1) @ w + b
    z, c = 1 / (1 + np.exp(-a[:, :H])), np.tanh(a[:, H:])
    return np.stack([z * h + (1 - z) * c])
