"""Vanilla RNN: h_t = tanh(W_xh x_t + W_hh h_{t-1} + b).

The minimal character model of the lectures.  Its gradient through time is
multiplied by W_hh^T diag(1 - h^2) at every step, so it vanishes (or
explodes) over long spans: the problem the gated cells solve.

Parameters of layer l: ``w<l>`` (D + H, H) = [W_xh; W_hh] (D = V at layer
0, row v the input weight of character v; D = H above) and ``b<l>`` (H).
State: (h,).

Dimension key: T = time steps in the chunk, B = batch streams, H = hidden.

Forward keeps every layer's hiddens (the activations are the hiddens, so
there is nothing smaller to keep); the pre-activations are one buffer
shared by all layers, reused by backward for their gradients.  A step is
one phase of recurrence.py's schedule, as the LSTM's.
"""

from typing import NamedTuple

import numpy as np

from ..kernels.activations import tanh
from ..kernels.blas import AS_IS
from ..kernels.jit import inner_kernel, kernel
from ..kernels.rows import add_product, packed
from ..kernels.products import recurrent_panels
from ..kernels.tiles import ACCUMULATE, product
from . import TorchModule, recurrence
from .inputs import input_product, stacked_weight_grads
from .step import dense_inputs, dense_weights, dense_weights_class, register_step

STATES = ("h",)
SHOWN = ("h", None)
TORCH = TorchModule("RNN", "", (0,))  # nn.RNN(nonlinearity="tanh")
ONE = np.float32(1.0)


def layer_shapes(l, V, H):
    d_in = V if l == 0 else H
    return [(f"w{l}", (d_in + H, H)), (f"b{l}", (H,))]


def init_layer(p, l, H, rng):
    p[f"b{l}"][:] = 0.0


class RNNForward(NamedTuple):
    """A layer's arrays for recurrence.run_forward."""

    pre: np.ndarray  # (T, B, H) in: x_t @ W_xh; out: + h_{t-1} @ W_hh
    hiddens: np.ndarray  # (T+1, B, H) in: [0] = h0; out: h_t
    w_h: np.ndarray  # (H, H) W_hh
    bias: np.ndarray  # (H,)
    panels: np.ndarray  # scratch for W_hh packed, tiles.panels_shape(w_h, transposed=False)
    phases: int = 1


class RNNBackward(NamedTuple):
    """A layer's arrays for recurrence.run_backward."""

    gates: np.ndarray  # (T, B, H) out: dL/d(pre-activations)
    hiddens: np.ndarray  # (T+1, B, H) of forward
    dh: np.ndarray  # (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    dh_next: np.ndarray  # (B, H) dL/dh_t flowing back along the recurrence; out: dL/dh0
    w_h: np.ndarray  # (H, H)
    panels: np.ndarray  # scratch for W_h.T packed, tiles.panels_shape(w_h, transposed=True)
    phases: int = 1


def forward(p, l, x, state0, ws, blocks, keep=True):
    """Layer l over a chunk; returns (hiddens,) (T+1, B, H), [0] = state0[0].
    keep: keep every layer's hiddens for backward (else two buffers serve
    the layers in turn: a layer reads the other's)."""
    w, H = p[f"w{l}"], state0.shape[-1]
    T, B = x.shape[:2]
    pre = ws.take("pre", (T, B, H), w.dtype)
    input_product(x, w[:-H], pre, blocks, ws)
    hiddens = ws.take(f"hiddens{l if keep else l % 2}", (T + 1, B, H), w.dtype)
    hiddens[0] = state0[0]
    w_h = w[-H:]
    panels = recurrent_panels(ws, "panels", w_h, transposed=False)
    recurrence.run_forward(RNNForward(pre, hiddens, w_h, p[f"b{l}"], panels), blocks)
    return (hiddens,)


def replay(p, l, state0, hiddens, with_hiddens, ws, blocks):
    """Nothing to remake: forward keeps every layer's hiddens."""


def backward(p, g, l, dh, dstate0, hiddens, ws, blocks):
    T, B, H = dh.shape
    w_h = p[f"w{l}"][-H:]
    panels = recurrent_panels(ws, "panels", w_h, transposed=True)
    cell = RNNBackward(ws.take("pre", (T, B, H), dh.dtype), hiddens, dh, dstate0[0], w_h, panels)
    recurrence.run_backward(cell, g[f"b{l}"], blocks)


def weight_grads(p, g, l, x, hiddens, dx, ws, blocks):
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    stacked_weight_grads(
        x, hiddens, ws.take("pre", (T, B, H), hiddens.dtype), p[f"w{l}"], g[f"w{l}"], dx, blocks, ws
    )


@kernel
def _forward_phase(cell, phase, t, r0, r1, u0, u1):
    """hiddens[t+1] = tanh(pre[t] + hiddens[t] @ w_h + bias), units u0..u1."""
    pre = cell.pre[t, r0:r1]
    product(cell.hiddens[t, r0:r1], cell.w_h, cell.panels, u0, u1, pre, ACCUMULATE, AS_IS)
    _activate(pre, cell.bias, cell.hiddens[t + 1, r0:r1], u0, u1)


@kernel
def _backward_phase(cell, phase, t, r0, r1, u0, u1, dbias):
    """dL/dh_t through W_hh from step t+1's gradients, then step t's."""
    if t == cell.dh.shape[0] - 1:
        cell.dh_next[r0:r1, u0:u1] = 0.0
    else:
        recurrence.through_w_h(cell, t + 1, r0, r1, u0, u1)
    dpre, h = cell.gates[t, r0:r1], cell.hiddens[t + 1, r0:r1]
    _through_tanh(dpre, cell.dh_next[r0:r1], cell.dh[t, r0:r1], h, dbias, u0, u1)


recurrence.register(
    RNNForward, RNNBackward, _forward_phase, _backward_phase, recurrence.through_w_h_at_start
)


@kernel
def _activate(pre, bias, h, lo, hi):
    """h[:, lo:hi] = tanh(pre + bias), units lo..hi-1 of (B, H) rows."""
    for b in range(h.shape[0]):
        z, out = pre[b], h[b]
        for j in range(lo, hi):
            out[j] = tanh(z[j] + bias[j])


@kernel
def _through_tanh(dpre, dh_next, dh, h, dbias, lo, hi):
    """dpre = (dh + dh_next) * (1 - h^2) for units lo..hi-1, added to dbias."""
    for b in range(dpre.shape[0]):
        d, carried, above, hb = dpre[b], dh_next[b], dh[b], h[b]
        for j in range(lo, hi):
            d[j] = (above[j] + carried[j]) * (ONE - hb[j] * hb[j])
            dbias[j] += d[j]


RNNStepWeights = dense_weights_class("RNNStepWeights", __name__)


def step_weights(p, l, V, H, pack=packed):
    """Layer l's RNNStepWeights (step.dense_weights)."""
    return dense_weights(RNNStepWeights, p, l, V, H, H, pack)


@inner_kernel
def step(weights, ids, below, state, work):
    """cells.step.cell_step for the vanilla RNN: state (1, K, H)."""
    H = state.shape[2]
    dense_inputs(weights, ids, below, work, H)
    add_product(state[0], weights.w_h, work)
    _activate(work, weights.bias, state[0], 0, H)


register_step(RNNStepWeights, step)
