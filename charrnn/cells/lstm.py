"""LSTM: c_t = f * c_{t-1} + i * g, h_t = o * tanh(c_t), with
(i, f, o, g) = (sigm, sigm, sigm, tanh)(W [x_t; h_{t-1}] + b).

Parameters of layer l: one fused ``w<l>`` (D + H, 4H) = [W_x; W_h], columns
the gates i, f, o, g (D = V at layer 0, row v the input weight of character
v; D = H above), and ``b<l>`` (4H), the forget gate's part initialised to 1.
State: (h, c).

Dimension key: T = time steps in the chunk, B = batch streams, H = hidden size,
G = 4H gate pre-activations in the order i, f, o, g.

The input projection of all T steps (x @ W_x) does not depend on the
recurrence, so it is one large GEMM (inputs.py) written into ``gates``;
lstm_forward adds h_{t-1} @ W_h one step at a time, with W_h packed once per
chunk for the register tiles of tiles.py, and fuses the bias and all gate
arithmetic.  lstm_replay remakes a layer's cells and hiddens from its gates,
so that forward need not keep them for every layer: it keeps every layer's
gates, one buffer of cells and two of hiddens, used by layers in turn.

``blocks`` threads share the work in one of two ways (split_streams):
- small W_h: each thread runs a block of the batch's streams through the
  whole chunk, never waiting for the others;
- large W_h: each thread owns a block of hidden units, with its four gate
  strips and its columns (forward) or rows (backward) of W_h, so its share
  of W_h stays in its own cache, every step's product keeps the whole batch
  as rows, and the threads meet once per step.
"""
from typing import NamedTuple

import numpy as np
from numba import prange

from ..kernels.activations import sigmoid, tanh
from ..kernels.blas import block_bounds
from ..kernels.buffers import layer_buffer
from ..kernels.jit import inner_kernel, kernel, parallel_kernel
from ..kernels.rows import PackedWeights, add_product, packed, packed_columns
from ..kernels.tiles import pack, panels_shape, product, unit_bounds
from .inputs import input_gradients, input_product
from .step import register_step

STATES = ("h", "c")


def layer_shapes(l, V, H):
    """[(name, shape)] of layer l's parameters, in buffer order."""
    d_in = V if l == 0 else H
    return [(f"w{l}", (d_in + H, 4 * H)), (f"b{l}", (4 * H,))]


def init_layer(p, l, H, rng):
    """Biases 0, the forget gate's 1 (after the model's uniform draw)."""
    p[f"b{l}"][:] = 0.0
    p[f"b{l}"][H:2 * H] = 1.0


def forward(p, l, x, state0, ws, blocks, keep=True):
    """Layer l over a chunk: x ids (T, B) at layer 0, else (T, B, H); state0
    (2, B, H).  Returns (hiddens, cells), each (T+1, B, H), [0] = state0.
    keep: keep the gates for backward."""
    w, H = p[f"w{l}"], state0.shape[-1]
    T, B = x.shape[:2]
    gates = ws.take(layer_buffer("gates", l, keep), (T, B, 4 * H), w.dtype)
    input_product(x, w[:-H], gates, blocks)
    cells = ws.take("cells", (T + 1, B, H), w.dtype)
    hiddens = ws.take(f"hiddens{l % 2}", (T + 1, B, H), w.dtype)
    hiddens[0], cells[0] = state0
    w_h = w[-H:]
    lstm_forward(gates, cells, hiddens, w_h, p[f"b{l}"], blocks,
                 ws.take("panels", panels_shape(w_h, False), w.dtype))
    return hiddens, cells


def replay(p, l, state0, hiddens, with_hiddens, ws, blocks):
    """Remake layer l's cells (and with_hiddens its hiddens) as forward made them."""
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    cells = ws.take("cells", (T + 1, B, H), hiddens.dtype)
    hiddens[0], cells[0] = state0
    lstm_replay(ws.take(f"gates{l}", (T, B, 4 * H), hiddens.dtype), cells, hiddens,
                with_hiddens, blocks)


def backward(p, g, l, dh, dstate0, hiddens, ws, blocks):
    """Backpropagate layer l's recurrence: dh (T, B, H) dL/d(its outputs);
    writes dstate0 (2, B, H), the bias gradient, and the gate gradients over
    the gates."""
    T, B, H = dh.shape
    w_h = p[f"w{l}"][-H:]
    lstm_backward(ws.take(f"gates{l}", (T, B, 4 * H), dh.dtype), dstate0[0], dstate0[1], dh,
                  ws.take("cells", (T + 1, B, H), dh.dtype), w_h, g[f"b{l}"], blocks,
                  ws.take("panels", panels_shape(w_h, True), dh.dtype))


def weight_grads(p, g, l, x, hiddens, dx, ws, blocks):
    """Layer l's weight gradients from the gate gradients of backward, and
    dx (T, B, H) = dL/dx when x is hidden states."""
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    dgates = ws.take(f"gates{l}", (T, B, 4 * H), hiddens.dtype)
    dw = g[f"w{l}"]
    input_gradients(x, dgates, p[f"w{l}"][:-H], dw[:-H], dx, blocks,
                    also=(hiddens[:-1].reshape(T * B, H), dgates.reshape(T * B, 4 * H), dw[-H:]))


ONE = np.float32(1.0)
STREAM_SPLIT_BYTES = 1 << 20  # W_h up to this size: threads split the streams


@parallel_kernel
def lstm_forward(gates, cells, hiddens, w_h, bias, blocks, panels):
    """Run the recurrence in place.

    gates   (T, B, G) in: x_t @ W_x; out: activated gates i, f, o, g
    bias    (G,) added to the gate pre-activations
    cells   (T+1, B, H) in: cells[0] = c0; out: cells[t+1] = c_t
    hiddens (T+1, B, H) in: hiddens[0] = h0; out: hiddens[t+1] = h_t
    w_h     (H, G)
    blocks  work blocks, one per thread (see the module notes)
    panels  scratch for W_h packed, tiles.panels_shape(w_h, False)
    """
    T, B, G = gates.shape
    H = G // 4
    for s in prange(blocks):  # each thread packs the columns it will use
        lo, hi = unit_bounds(s, blocks, H)
        for k in range(4):
            pack(w_h, panels, k * H + lo, k * H + hi, False)
    if split_streams(w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            for t in range(T):
                product(hiddens[t, lo:hi], w_h, panels, 0, G, gates[t, lo:hi], True, False)
                _cells_forward(gates[t, lo:hi], bias, cells[t, lo:hi], cells[t + 1, lo:hi],
                               hiddens[t + 1, lo:hi], 0, H)
        return
    for t in range(T):
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            for k in range(4):
                product(hiddens[t], w_h, panels, k * H + lo, k * H + hi, gates[t], True, False)
            _cells_forward(gates[t], bias, cells[t], cells[t + 1], hiddens[t + 1], lo, hi)


@kernel
def split_streams(w_h, B, blocks):
    """Whether threads should split the batch streams rather than the hidden
    units: when W_h fits a core's cache twice over, each thread can run its
    streams through all of it with no meeting per step (measured at H = 128:
    1.4x; at H = 512 sharing W_h's columns is faster)."""
    return blocks > 1 and B >= 2 * blocks and w_h.size * w_h.itemsize <= STREAM_SPLIT_BYTES


@kernel(inline="always")
def _strips(z, H, lo, hi):
    """Units lo..hi-1 of the four gate strips i, f, o, g of a row z (4H,)."""
    return z[lo:hi], z[H + lo:H + hi], z[2 * H + lo:2 * H + hi], z[3 * H + lo:3 * H + hi]


@kernel
def _cells_forward(gates, bias, c_prev, c, h, lo, hi):
    """Gate arithmetic of units lo..hi-1 at one step: gates (B, G), the rest (B, H)."""
    B, G = gates.shape
    H = G // 4
    bi, bf, bo, bg = _strips(bias, H, lo, hi)
    for b in range(B):
        # One simple loop per strip, so that each vectorizes.
        i, f, o, g = _strips(gates[b], H, lo, hi)
        for j in range(hi - lo):
            i[j] = sigmoid(i[j] + bi[j])
        for j in range(hi - lo):
            f[j] = sigmoid(f[j] + bf[j])
        for j in range(hi - lo):
            o[j] = sigmoid(o[j] + bo[j])
        for j in range(hi - lo):
            g[j] = tanh(g[j] + bg[j])
        cp, cb, hb = c_prev[b, lo:hi], c[b, lo:hi], h[b, lo:hi]
        for j in range(hi - lo):
            cb[j] = lstm_cell(i[j], f[j], g[j], cp[j])
            hb[j] = lstm_hidden(o[j], cb[j])


# The cell and hidden values, in one place: lstm_replay must remake them
# bit for bit, which holds as long as the kernels that inline these are
# compiled without fastmath (which would let LLVM fuse or reorder them).
@kernel(inline="always")
def lstm_cell(i, f, g, c_prev):
    return f * c_prev + i * g


@kernel(inline="always")
def lstm_hidden(o, c):
    return o * tanh(c)


@parallel_kernel
def lstm_replay(gates, cells, hiddens, with_hiddens, blocks):
    """Remake a layer's cells[1:], and with_hiddens its hiddens[1:], exactly
    as lstm_forward made them, from its activated gates (T, B, G) and
    cells[0] (the caller restores hiddens[0] too if it needs it): cheaper
    than keeping them for every layer (model.backward).  Threads split the
    streams."""
    T, B, G = gates.shape
    H = G // 4
    for s in prange(blocks):
        lo, hi = block_bounds(s, blocks, B)
        for t in range(T):
            for b in range(lo, hi):
                i, f, o, g = _strips(gates[t, b], H, 0, H)
                cp, cb = cells[t, b], cells[t + 1, b]
                for j in range(H):
                    cb[j] = lstm_cell(i[j], f[j], g[j], cp[j])
                if with_hiddens:
                    hb = hiddens[t + 1, b]
                    for j in range(H):
                        hb[j] = lstm_hidden(o[j], cb[j])


@parallel_kernel
def lstm_backward(gates, dh0, dc0, dh, cells, w_h, dbias, blocks, panels):
    """Backpropagate through the chunk, t = T-1 .. 0.

    gates  (T, B, G) in: the activated gates of lstm_forward; out: dL/d(gate
           pre-activations), written over them (each step's gates are last
           read where their gradient is written, so no second buffer)
    dh0, dc0 (B, H)  out: dL/dh0 and dL/dc0, for the carried-in state
    dh     (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    cells  the cells of lstm_forward (or of lstm_replay, the same)
    w_h    (H, G)
    dbias  (G,) out: dL/d(bias), summed here where the gate gradients are made
    blocks as in lstm_forward; split by units, a block's share of
           dL/dh_t = dgates[t+1] @ W_h.T (its rows of W_h) is all its gate
           arithmetic at step t needs.
    panels scratch for W_h.T packed, tiles.panels_shape(w_h, True)
    """
    T, B, G = gates.shape
    H = G // 4
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        pack(w_h, panels, lo, hi, True)
    dh_next = dh0  # dL/dh_t flowing back along the recurrence
    dc_next = dc0
    # Each block sums its bias gradient in a row of its own: dbias itself may
    # share cache lines across block edges, too costly to write every step.
    dbias_parts = np.zeros((blocks, G), gates.dtype)
    if split_streams(w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            dh_next[lo:hi] = 0.0
            dc_next[lo:hi] = 0.0
            for t in range(T - 1, -1, -1):
                if t < T - 1:
                    product(gates[t + 1, lo:hi], w_h, panels, 0, H, dh_next[lo:hi], False, True)
                _cells_backward(gates[t, lo:hi], dh_next[lo:hi], dc_next[lo:hi], dh[t, lo:hi],
                                cells[t, lo:hi], cells[t + 1, lo:hi], dbias_parts[s], 0, H)
            product(gates[0, lo:hi], w_h, panels, 0, H, dh_next[lo:hi], False, True)
        dbias[:] = 0.0
        for s in range(blocks):  # a fixed order
            dbias += dbias_parts[s]
        return
    for t in range(T - 1, -2, -1):
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            if t == T - 1:
                dh_next[:, lo:hi] = 0.0
                dc_next[:, lo:hi] = 0.0
            else:
                product(gates[t + 1], w_h, panels, lo, hi, dh_next, False, True)
            if t >= 0:
                _cells_backward(gates[t], dh_next, dc_next, dh[t], cells[t], cells[t + 1],
                                dbias_parts[s], lo, hi)
            else:
                for k in range(4):
                    dbias[k * H + lo:k * H + hi] = dbias_parts[s, k * H + lo:k * H + hi]


@kernel
def _cells_backward(gates, dh_next, dc_next, dh, c_prev, c, dbias, lo, hi):
    """Gradients of units lo..hi-1 at one step, written over their gates and
    added to dbias: gates (B, G), dbias (G,), the rest (B, H)."""
    B, G = gates.shape
    H = G // 4
    di, df, do, dg = _strips(dbias, H, lo, hi)
    for b in range(B):
        zi, zf, zo, zg = _strips(gates[b], H, lo, hi)
        cp, cb, dh_t = c_prev[b, lo:hi], c[b, lo:hi], dh[b, lo:hi]
        dh_b, dc_b = dh_next[b, lo:hi], dc_next[b, lo:hi]
        for j in range(hi - lo):
            i, f, o, g = zi[j], zf[j], zo[j], zg[j]
            tanh_c = tanh(cb[j])
            dh_j = dh_t[j] + dh_b[j]
            dc = dc_b[j] + dh_j * o * (ONE - tanh_c * tanh_c)
            zi[j] = dc * g * i * (ONE - i)
            zf[j] = dc * cp[j] * f * (ONE - f)
            zo[j] = dh_j * tanh_c * o * (ONE - o)
            zg[j] = dc * i * (ONE - g * g)
            dc_b[j] = dc * f
            di[j] += zi[j]
            df[j] += zf[j]
            do[j] += zo[j]
            dg[j] += zg[j]


class LSTMStepWeights(NamedTuple):
    """A layer's weights for generation (step)."""
    lookup: np.ndarray   # (V, G) layer 0's W_x, a row per character; (0, G) above
    w_in: PackedWeights  # W_x above layer 0 (rows.packed); none at layer 0
    w_h: PackedWeights   # W_h
    bias: np.ndarray     # (G,)
    work_columns: int    # the gates, padded to whole panels


def step_weights(p, l, V, H, pack=packed):
    """Layer l's LSTMStepWeights, its matrices packed by ``pack`` (rows.packed
    in a precision); layer 0's lookup and the bias stay float32."""
    w, G = p[f"w{l}"], 4 * H
    lookup = np.ascontiguousarray(w[:V], np.float32) if l == 0 else np.zeros((0, G), np.float32)
    w_in = pack(w[:H] if l > 0 else np.zeros((0, G), np.float32))
    return LSTMStepWeights(lookup, w_in, pack(w[-H:]), np.asarray(p[f"b{l}"], np.float32),
                       packed_columns(G))


@inner_kernel
def step(weights, ids, below, state, work):
    """cells.step.cell_step for the LSTM: state (2, K, H) = (h, c)."""
    K, H = state.shape[1], state.shape[2]
    G = 4 * H
    gates, bias = work, weights.bias
    if weights.lookup.shape[0] > 0:
        for k in range(K):
            row = weights.lookup[ids[k]]
            for j in range(G):
                gates[k, j] = row[j] + bias[j]
    else:
        for k in range(K):
            gates[k, :G] = bias
        add_product(below, weights.w_in, gates)
    h, c = state[0], state[1]
    add_product(h, weights.w_h, gates)
    for k in range(K):  # rows as 1-D views, one loop per output: the loops vectorize
        z, hk, ck = gates[k], h[k], c[k]
        for j in range(H):
            ck[j] = lstm_cell(sigmoid(z[j]), sigmoid(z[H + j]), tanh(z[3 * H + j]), ck[j])
        for j in range(H):
            hk[j] = lstm_hidden(sigmoid(z[2 * H + j]), ck[j])


register_step(LSTMStepWeights, step)
