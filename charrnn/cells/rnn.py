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
shared by all layers, reused by backward for their gradients.  Threads
share the recurrence as the LSTM's do (lstm.py): by streams when W_hh is
small, else by hidden units, meeting once per step.
"""
from typing import NamedTuple

import numpy as np
from numba import prange

from ..kernels.activations import tanh
from ..kernels.blas import block_bounds
from ..kernels.jit import inner_kernel, kernel, parallel_kernel
from ..kernels.rows import PackedWeights, add_product, packed, packed_columns
from ..kernels.tiles import pack, panels_shape, product, unit_bounds
from .inputs import input_gradients, input_product
from .lstm import split_streams
from .step import register_step

STATES = ("h",)
ONE = np.float32(1.0)


def layer_shapes(l, V, H):
    d_in = V if l == 0 else H
    return [(f"w{l}", (d_in + H, H)), (f"b{l}", (H,))]


def init_layer(p, l, H, rng):
    p[f"b{l}"][:] = 0.0


def forward(p, l, x, state0, ws, blocks, keep=True):
    """Layer l over a chunk; returns (hiddens,) (T+1, B, H), [0] = state0[0].
    keep: keep every layer's hiddens for backward (else two buffers serve
    the layers in turn: a layer reads the other's)."""
    w, H = p[f"w{l}"], state0.shape[-1]
    T, B = x.shape[:2]
    pre = ws.take("pre", (T, B, H), w.dtype)
    input_product(x, w[:-H], pre, blocks)
    hiddens = ws.take(f"hiddens{l if keep else l % 2}", (T + 1, B, H), w.dtype)
    hiddens[0] = state0[0]
    w_h = w[-H:]
    rnn_forward(pre, hiddens, w_h, p[f"b{l}"], blocks,
                ws.take("panels", panels_shape(w_h, False), w.dtype))
    return (hiddens,)


def replay(p, l, state0, hiddens, with_hiddens, ws, blocks):
    """Nothing to remake: forward keeps every layer's hiddens."""


def backward(p, g, l, dh, dstate0, hiddens, ws, blocks):
    T, B, H = dh.shape
    w_h = p[f"w{l}"][-H:]
    rnn_backward(ws.take("pre", (T, B, H), dh.dtype), dstate0[0], dh, hiddens, w_h, g[f"b{l}"],
                 blocks, ws.take("panels", panels_shape(w_h, True), dh.dtype))


def weight_grads(p, g, l, x, hiddens, dx, ws, blocks):
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    dpre = ws.take("pre", (T, B, H), hiddens.dtype)
    dw = g[f"w{l}"]
    input_gradients(x, dpre, p[f"w{l}"][:-H], dw[:-H], dx, blocks,
                    also=(hiddens[:-1].reshape(T * B, H), dpre.reshape(T * B, H), dw[-H:]))


@parallel_kernel
def rnn_forward(pre, hiddens, w_h, bias, blocks, panels):
    """hiddens[t+1] = tanh(pre[t] + hiddens[t] @ w_h + bias) for t < T.

    pre (T, B, H) in: x_t @ W_xh (written over); hiddens (T+1, B, H), [0] = h0;
    panels: scratch for W_hh packed, tiles.panels_shape(w_h, False)."""
    T, B, H = pre.shape
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        pack(w_h, panels, lo, hi, False)
    if split_streams(w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            for t in range(T):
                product(hiddens[t, lo:hi], w_h, panels, 0, H, pre[t, lo:hi], True, False)
                _activate(pre[t, lo:hi], bias, hiddens[t + 1, lo:hi], 0, H)
        return
    for t in range(T):
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            product(hiddens[t], w_h, panels, lo, hi, pre[t], True, False)
            _activate(pre[t], bias, hiddens[t + 1], lo, hi)


@kernel
def _activate(pre, bias, h, lo, hi):
    """h[:, lo:hi] = tanh(pre + bias), units lo..hi-1 of (B, H) rows."""
    for b in range(pre.shape[0]):
        z, out = pre[b], h[b]
        for j in range(lo, hi):
            out[j] = tanh(z[j] + bias[j])


@parallel_kernel
def rnn_backward(dpre, dh0, dh, hiddens, w_h, dbias, blocks, panels):
    """Backpropagate through the chunk, t = T-1 .. 0.

    dpre    (T, B, H) out: dL/d(pre-activations)
    dh0     (B, H) out: dL/dh0
    dh      (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    hiddens (T+1, B, H) of rnn_forward
    dbias   (H,) out
    panels  scratch for W_hh.T packed, tiles.panels_shape(w_h, True)
    """
    T, B, H = dpre.shape
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        pack(w_h, panels, lo, hi, True)
    dh_next = dh0  # dL/dh_t flowing back along the recurrence
    dbias_parts = np.zeros((blocks, H), dpre.dtype)
    if split_streams(w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            dh_next[lo:hi] = 0.0
            for t in range(T - 1, -1, -1):
                if t < T - 1:
                    product(dpre[t + 1, lo:hi], w_h, panels, 0, H, dh_next[lo:hi], False, True)
                _through_tanh(dpre[t, lo:hi], dh_next[lo:hi], dh[t, lo:hi],
                              hiddens[t + 1, lo:hi], dbias_parts[s], 0, H)
            product(dpre[0, lo:hi], w_h, panels, 0, H, dh_next[lo:hi], False, True)
        dbias[:] = 0.0
        for s in range(blocks):  # a fixed order
            dbias += dbias_parts[s]
        return
    for t in range(T - 1, -2, -1):
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            if t == T - 1:
                dh_next[:, lo:hi] = 0.0
            else:
                product(dpre[t + 1], w_h, panels, lo, hi, dh_next, False, True)
            if t >= 0:
                _through_tanh(dpre[t], dh_next, dh[t], hiddens[t + 1], dbias_parts[s], lo, hi)
            else:
                dbias[lo:hi] = dbias_parts[s, lo:hi]


@kernel
def _through_tanh(dpre, dh_next, dh, h, dbias, lo, hi):
    """dpre = (dh + dh_next) * (1 - h^2) for units lo..hi-1, added to dbias."""
    for b in range(dpre.shape[0]):
        d, carried, above, hb = dpre[b], dh_next[b], dh[b], h[b]
        for j in range(lo, hi):
            d[j] = (above[j] + carried[j]) * (ONE - hb[j] * hb[j])
            dbias[j] += d[j]


class RNNStepWeights(NamedTuple):
    """A layer's weights for generation (step), as lstm.LSTMStepWeights."""
    lookup: np.ndarray
    w_in: PackedWeights
    w_h: PackedWeights
    bias: np.ndarray
    work_columns: int


def step_weights(p, l, V, H, pack=packed):
    """As lstm.step_weights."""
    w = p[f"w{l}"]
    lookup = np.ascontiguousarray(w[:V], np.float32) if l == 0 else np.zeros((0, H), np.float32)
    w_in = pack(w[:H] if l > 0 else np.zeros((0, H), np.float32))
    return RNNStepWeights(lookup, w_in, pack(w[-H:]), np.asarray(p[f"b{l}"], np.float32),
                       packed_columns(H))


@inner_kernel
def step(weights, ids, below, state, work):
    """cells.step.cell_step for the vanilla RNN: state (1, K, H)."""
    K, H = state.shape[1], state.shape[2]
    pre, bias = work, weights.bias
    if weights.lookup.shape[0] > 0:
        for k in range(K):
            row = weights.lookup[ids[k]]
            for j in range(H):
                pre[k, j] = row[j] + bias[j]
    else:
        for k in range(K):
            pre[k, :H] = bias
        add_product(below, weights.w_in, pre)
    h = state[0]
    add_product(h, weights.w_h, pre)
    for k in range(K):
        for j in range(H):
            h[k, j] = tanh(pre[k, j])


register_step(RNNStepWeights, step)
