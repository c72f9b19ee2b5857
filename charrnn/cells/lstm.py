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
arithmetic.  Replay remakes a layer's cells and hiddens from its gates,
so that forward need not keep them for every layer: it keeps every layer's
gates, one buffer of cells and two of hiddens, used by layers in turn.

A step is one phase of recurrence.py's schedule (the product with W_h,
then the gate arithmetic), forward and backward; generation's step is made
of the same gate arithmetic.
"""

from typing import NamedTuple

import numpy as np

from ..kernels.activations import sigmoid, tanh
from ..kernels.blas import AS_IS
from ..kernels.buffers import layer_buffer
from ..kernels.jit import inner_kernel, kernel
from ..kernels.rows import add_product, packed
from ..kernels.products import recurrent_panels
from ..kernels.tiles import ACCUMULATE
from . import TorchModule, recurrence
from .inputs import input_product, stacked_weight_grads
from .recurrence import strips_product
from .step import dense_inputs, dense_weights, dense_weights_class, register_step

STATES = ("h", "c")
SHOWN = ("c", np.tanh)  # the cell, squashed as h sees it (Karpathy's visualisations)
TORCH = TorchModule("LSTM", "i,f,g,o", (0, 1, 3, 2))  # charrnn's columns are i, f, o, g
ONE = np.float32(1.0)


def layer_shapes(l, V, H):
    """[(name, shape)] of layer l's parameters, in buffer order."""
    d_in = V if l == 0 else H
    return [(f"w{l}", (d_in + H, 4 * H)), (f"b{l}", (4 * H,))]


def init_layer(p, l, H, rng):
    """Biases 0, the forget gate's 1 (after the model's uniform draw)."""
    p[f"b{l}"][:] = 0.0
    p[f"b{l}"][H : 2 * H] = 1.0


class LSTMForward(NamedTuple):
    """A layer's arrays for recurrence.run_forward."""

    gates: np.ndarray  # (T, B, G) in: x_t @ W_x; out: the activated gates i, f, o, g
    cells: np.ndarray  # (T+1, B, H) in: cells[0] = c0; out: cells[t+1] = c_t
    hiddens: np.ndarray  # (T+1, B, H) in: hiddens[0] = h0; out: hiddens[t+1] = h_t
    w_h: np.ndarray  # (H, G)
    bias: np.ndarray  # (G,) added to the gate pre-activations
    panels: np.ndarray  # scratch for W_h packed, tiles.panels_shape(w_h, transposed=False)
    phases: int = 1


class LSTMBackward(NamedTuple):
    """A layer's arrays for recurrence.run_backward."""

    # (T, B, G) in: the activated gates; out: dL/d(their pre-activations), written
    # over them (each step's gates are last read where their gradient is written)
    gates: np.ndarray
    cells: np.ndarray  # (T+1, B, H) of forward (or of replay, the same)
    dh: np.ndarray  # (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    dh_next: np.ndarray  # (B, H) dL/dh_t flowing back along the recurrence; out: dL/dh0
    dc_next: np.ndarray  # (B, H) likewise dL/dc_t; out: dL/dc0
    w_h: np.ndarray  # (H, G)
    panels: np.ndarray  # scratch for W_h.T packed, tiles.panels_shape(w_h, transposed=True)
    phases: int = 1


def forward(p, l, x, state0, ws, blocks, keep=True):
    """Layer l over a chunk: x ids (T, B) at layer 0, else (T, B, H); state0
    (2, B, H).  Returns (hiddens, cells), each (T+1, B, H), [0] = state0.
    keep: keep the gates for backward."""
    w, H = p[f"w{l}"], state0.shape[-1]
    T, B = x.shape[:2]
    gates = ws.take(layer_buffer("gates", l, keep), (T, B, 4 * H), w.dtype)
    input_product(x, w[:-H], gates, blocks, ws)
    cells = ws.take("cells", (T + 1, B, H), w.dtype)
    hiddens = ws.take(f"hiddens{l % 2}", (T + 1, B, H), w.dtype)
    hiddens[0], cells[0] = state0
    w_h = w[-H:]
    panels = recurrent_panels(ws, "panels", w_h, transposed=False)
    recurrence.run_forward(LSTMForward(gates, cells, hiddens, w_h, p[f"b{l}"], panels), blocks)
    return hiddens, cells


def replay(p, l, state0, hiddens, with_hiddens, ws, blocks):
    """Remake layer l's cells (and with_hiddens its hiddens) as forward made them."""
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    cells = ws.take("cells", (T + 1, B, H), hiddens.dtype)
    hiddens[0], cells[0] = state0
    recurrence.run_replay(
        LSTMReplay(
            ws.take(f"gates{l}", (T, B, 4 * H), hiddens.dtype), cells, hiddens, with_hiddens
        ),
        blocks,
    )


def backward(p, g, l, dh, dstate0, hiddens, ws, blocks):
    """Backpropagate layer l's recurrence: dh (T, B, H) dL/d(its outputs);
    writes dstate0 (2, B, H), the bias gradient, and the gate gradients over
    the gates."""
    T, B, H = dh.shape
    w_h = p[f"w{l}"][-H:]
    panels = recurrent_panels(ws, "panels", w_h, transposed=True)
    cell = LSTMBackward(
        ws.take(f"gates{l}", (T, B, 4 * H), dh.dtype),
        ws.take("cells", (T + 1, B, H), dh.dtype),
        dh,
        dstate0[0],
        dstate0[1],
        w_h,
        panels,
    )
    recurrence.run_backward(cell, g[f"b{l}"], blocks)


def weight_grads(p, g, l, x, hiddens, dx, ws, blocks):
    """Layer l's weight gradients from the gate gradients of backward, and
    dx (T, B, H) = dL/dx when x is hidden states."""
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    stacked_weight_grads(
        x,
        hiddens,
        ws.take(f"gates{l}", (T, B, 4 * H), hiddens.dtype),
        p[f"w{l}"],
        g[f"w{l}"],
        dx,
        blocks,
        ws,
    )


@kernel
def _forward_phase(cell, phase, t, r0, r1, u0, u1):
    """h_{t-1} @ W_h into the gates, then the gate arithmetic."""
    H = cell.hiddens.shape[2]
    gates = cell.gates[t, r0:r1]
    strips_product(
        cell.hiddens[t, r0:r1], cell.w_h, cell.panels, 0, 4, H, u0, u1, gates, ACCUMULATE, AS_IS
    )
    _cells_forward(
        gates,
        cell.bias,
        cell.cells[t, r0:r1],
        cell.cells[t + 1, r0:r1],
        cell.hiddens[t + 1, r0:r1],
        u0,
        u1,
    )


@kernel
def _backward_phase(cell, phase, t, r0, r1, u0, u1, dbias):
    """dL/dh_t through W_h from step t+1's gate gradients, then step t's gate gradients."""
    if t == cell.dh.shape[0] - 1:
        cell.dh_next[r0:r1, u0:u1] = 0.0
        cell.dc_next[r0:r1, u0:u1] = 0.0
    else:
        recurrence.through_w_h(cell, t + 1, r0, r1, u0, u1)
    gates, dh = cell.gates[t, r0:r1], cell.dh[t, r0:r1]
    c_prev, c = cell.cells[t, r0:r1], cell.cells[t + 1, r0:r1]
    _cells_backward(gates, cell.dh_next[r0:r1], cell.dc_next[r0:r1], dh, c_prev, c, dbias, u0, u1)


recurrence.register(
    LSTMForward, LSTMBackward, _forward_phase, _backward_phase, recurrence.through_w_h_at_start
)


@kernel(inline="always")
def _strips(z, H, lo, hi):
    """Units lo..hi-1 of the four gate strips i, f, o, g of a row z (>= 4H)."""
    return z[lo:hi], z[H + lo : H + hi], z[2 * H + lo : 2 * H + hi], z[3 * H + lo : 3 * H + hi]


@kernel
def _cells_forward(gates, bias, c_prev, c, h, lo, hi):
    """Gate arithmetic of units lo..hi-1 at one step: gates (B, >= G) the
    pre-activations less the bias in, the activated gates out; bias (G,);
    the rest (B, H) (c_prev may be c: generation updates in place)."""
    B, H = c.shape
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


# The cell and hidden values, in one place: replay must remake them
# bit for bit, which holds as long as the kernels that inline these are
# compiled without fastmath (which would let LLVM fuse or reorder them).
@kernel(inline="always")
def lstm_cell(i, f, g, c_prev):
    return f * c_prev + i * g


@kernel(inline="always")
def lstm_hidden(o, c):
    return o * tanh(c)


class LSTMReplay(NamedTuple):
    """What replay reads and writes: cells (and with_hiddens hiddens) from the gates."""

    gates: np.ndarray  # (T, B, G) the activated gates of forward
    cells: np.ndarray  # (T+1, B, H) in: cells[0]; out: the rest
    hiddens: np.ndarray  # (T+1, B, H) out, with_hiddens: hiddens[1:]
    with_hiddens: bool


@kernel
def _replay_row(cell, t, b):
    H = cell.cells.shape[2]
    i, f, o, g = _strips(cell.gates[t, b], H, 0, H)
    cp, cb = cell.cells[t, b], cell.cells[t + 1, b]
    for j in range(H):
        cb[j] = lstm_cell(i[j], f[j], g[j], cp[j])
    if cell.with_hiddens:
        hb = cell.hiddens[t + 1, b]
        for j in range(H):
            hb[j] = lstm_hidden(o[j], cb[j])


recurrence.register_replay(LSTMReplay, _replay_row)


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


LSTMStepWeights = dense_weights_class("LSTMStepWeights", __name__)


def step_weights(p, l, V, H, pack=packed):
    """Layer l's LSTMStepWeights (step.dense_weights)."""
    return dense_weights(LSTMStepWeights, p, l, V, H, 4 * H, pack)


@inner_kernel
def step(weights, ids, below, state, work):
    """cells.step.cell_step for the LSTM: state (2, K, H) = (h, c)."""
    H = state.shape[2]
    dense_inputs(weights, ids, below, work, 4 * H)
    add_product(state[0], weights.w_h, work)
    _cells_forward(work, weights.bias, state[1], state[1], state[0], 0, H)


register_step(LSTMStepWeights, step)
