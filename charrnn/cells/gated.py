"""The recurrence shared by the GRU and MUT1-3: gated cells whose reset gate
multiplies h before the recurrent product, so each step makes two dependent
products.

Every such cell has three gate blocks, in the order r, z, h (h~, the
candidate), each H wide, and computes, with h the previous state:

    r, z = sigm(W_x x + W_h h + b)[r, z blocks]   (the cell says which terms)
    h~   = tanh(pre_h + W_hh (r * h) + b_h)        (pre_h from the input)
    h_t  = z * h + (1 - z) * h~   (GRU)   or   z * h~ + (1 - z) * h   (MUT)

A cell module (gru.py, mut1.py, ...) gives its equations, parameters and a
Spec saying which terms it has; this module runs them.  W_h holds, in its
columns: first the blocks multiplied by h (r, or r and z), then for MUT3 the
z block multiplied by tanh(h), last W_hh.

Dimension key: T = time steps, B = batch streams, H = hidden, G = 3H.

Forward keeps every layer's gates (activated r, z, h~) and, like the LSTM,
two buffers of hiddens used by layers in turn (replay remakes them); r*h
and tanh(h) live in scratch buffers that backward remakes as it goes.
A step is two phases of recurrence.py's schedule forward (the second
product needs all of r*h) and three backward.
"""
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import prange

from ..kernels.activations import sigmoid, tanh
from ..kernels.blas import block_bounds, split_gemm, split_gemm_two
from ..kernels.buffers import layer_buffer
from ..kernels.embedding import embedding_backward, embedding_forward
from ..kernels.jit import inline, inner_kernel, kernel, parallel_kernel
from ..kernels.rows import PackedWeights, add_product, packed, packed_columns
from ..kernels.tiles import pack, panels_shape, product
from . import recurrence
from .inputs import input_product, reads_characters
from .recurrence import ACCUMULATE, AS_IS, OVERWRITE, TRANSPOSED, strips_product
from .step import register_step

STATES = ("h",)
ONE = np.float32(1.0)


@dataclass(frozen=True)
class Spec:
    """Which terms a gated cell has."""
    n_rz: int          # blocks of W_h multiplied by h: 2 (r and z) or 1 (r only)
    tanh_z: bool       # z also reads W_hz tanh(h) (MUT3)
    keep_z: bool       # h_t = z h + (1 - z) h~ (GRU); else z h~ + (1 - z) h (MUT)
    x_cols: tuple      # the gate columns (in units of H) that W_x x writes
    x_itself: str = ""  # "tanh": tanh(x) is added to h~'s pre-activation (MUT1);
                        # "r": x is added to r's (MUT2); both need x with H elements
    embeds: bool = False  # layer 0 reads a learned H-wide embedding of the character

    def flags(self):
        return self.n_rz, self.tanh_z, self.keep_z


def layer_inputs(spec, p, l, x, ws):
    """The input the layer's W_x reads: x, or at layer 0 of an embedding
    cell, the embedded characters (kept for backward)."""
    if spec.embeds and reads_characters(x):
        T, B = x.shape
        embedded = ws.take("embedded", (T, B, p["embed"].shape[1]), p["embed"].dtype)
        embedding_forward(embedded, p["embed"], x)
        return embedded
    return x


def forward(spec, w_x, w_h, bias, x, state0, ws, l, blocks, keep=True):
    """Layer l over a chunk: x as layer_inputs gave it; returns (hiddens,).
    keep: keep the gates for backward."""
    H = state0.shape[-1]
    T, B = x.shape[:2]
    dtype = w_h.dtype
    gates = ws.take(layer_buffer("gates", l, keep), (T, B, 3 * H), dtype)
    lo, hi = spec.x_cols  # x_itself writes the block W_x x does not
    input_product(x, w_x, gates[:, :, lo * H:hi * H], blocks)
    if spec.x_itself == "tanh":  # tanh as every kernel makes it (the step's, backward's)
        _tanh_rows(x.reshape(T * B, H), gates[:, :, 2 * H:].reshape(T * B, H), 0, H)
    elif spec.x_itself == "r":
        gates[:, :, :H] = x
    hiddens = ws.take(f"hiddens{l % 2}", (T + 1, B, H), dtype)
    hiddens[0] = state0[0]
    rh, th = _scratch(ws, T, B, H, dtype)
    panels = ws.take("panels", panels_shape(w_h, False), dtype)
    recurrence.forward(GatedForward(gates, hiddens, rh, th, w_h, bias, panels, spec.n_rz,
                                    spec.tanh_z, spec.keep_z), blocks)
    return (hiddens,)


def _scratch(ws, T, B, H, dtype):
    """r * h_{t-1} and tanh(h_{t-1}) for every step, (T, B, H) each."""
    return ws.take("rh", (T, B, H), dtype), ws.take("th", (T, B, H), dtype)


def _transposed_panels(spec, ws, w_h, H):
    """Packing buffers for the transposes of W_h's blocks, each packed alone:
    (by h, by tanh(h), W_hh).  (Forward packs all of W_h at once.)"""
    widths = (spec.n_rz * H, H if spec.tanh_z else 0, H)
    return tuple(ws.take(f"panels{i}", panels_shape(w_h[:, :k], True), w_h.dtype)
                 for i, k in enumerate(widths))


def replay(spec, state0, hiddens, with_hiddens, ws, l, blocks):
    """Remake layer l's hiddens from its gates (forward kept them), bit for bit."""
    if not with_hiddens:
        return
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    hiddens[0] = state0[0]
    gated_replay(ws.take(f"gates{l}", (T, B, 3 * H), hiddens.dtype), hiddens, spec.keep_z,
                 blocks)


def backward(spec, w_h, dbias, dh, dstate0, hiddens, ws, l, blocks):
    """Backpropagate the recurrence: the gate gradients go over the gates;
    rh and th are remade for the weight gradients."""
    T, B, H = dh.shape
    rh, th = _scratch(ws, T, B, H, dh.dtype)
    cell = GatedBackward(ws.take(f"gates{l}", (T, B, 3 * H), dh.dtype), hiddens, rh, th, dh,
                         dstate0[0], ws.take("drh", (B, H), dh.dtype),
                         ws.take("dtz", (B, H), dh.dtype), w_h,
                         *_transposed_panels(spec, ws, w_h, H), spec.n_rz, spec.tanh_z,
                         spec.keep_z)
    recurrence.backward(cell, dbias, blocks)


def weight_grads(spec, w_x, dw_x, dw_h, d_embed, x, hiddens, dx, ws, l, blocks):
    """The weight gradients from the gate gradients, and dx = dL/dx (x from
    below; at layer 0 of an embedding cell, into d_embed)."""
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    N = T * B
    dgates3 = ws.take(f"gates{l}", (T, B, 3 * H), hiddens.dtype)
    dgates = dgates3.reshape(N, 3 * H)
    rh, th = (a.reshape(N, H) for a in _scratch(ws, T, B, H, hiddens.dtype))
    h_prev = hiddens[:-1].reshape(N, H)
    lo, hi = spec.x_cols
    dx_cols = dgates[:, lo * H:hi * H]
    rz = spec.n_rz * H
    # the W_h blocks: by h, by tanh(h) (MUT3), and W_hh by r * h
    split_gemm_two(h_prev, dgates[:, :rz], dw_h[:, :rz], True, False,
                   rh, dgates[:, 2 * H:], dw_h[:, -H:], True, False, blocks)
    if spec.tanh_z:
        split_gemm(th, dgates[:, H:2 * H], dw_h[:, H:2 * H], True, False, 0.0, blocks)
    embedded = spec.embeds and reads_characters(x)
    if reads_characters(x) and not embedded:
        embedding_backward(dw_x, dgates3[:, :, lo * H:hi * H], x, blocks)
        return
    x_in = ws.take("embedded", (T, B, H), hiddens.dtype) if embedded else x
    if embedded:
        dx = ws.take("dembedded", (T, B, H), hiddens.dtype)
    split_gemm(x_in.reshape(N, -1), dx_cols, dw_x, True, False, 0.0, blocks)
    split_gemm(dx_cols, w_x, dx.reshape(N, -1), False, True, 0.0, blocks)
    if spec.x_itself == "tanh":
        _add_through_tanh(dx.reshape(N, H), dgates[:, 2 * H:], x_in.reshape(N, H))
    elif spec.x_itself == "r":
        dx.reshape(N, H)[:] += dgates[:, :H]
    if embedded:
        embedding_backward(d_embed, dx, x, blocks)


@kernel
def _add_through_tanh(dx, dpre, x):
    """dx += dpre * (1 - tanh(x)^2): the tanh(x) term of MUT1's h~."""
    for n in range(dx.shape[0]):
        for j in range(dx.shape[1]):
            t = tanh(x[n, j])
            dx[n, j] += dpre[n, j] * (ONE - t * t)


@inline
def mix(z, hc, h_prev, keep_z):
    """The new state: z h + (1 - z) h~ (GRU) or z h~ + (1 - z) h (MUT).
    One definition, for forward and replay: they must agree bit for bit."""
    if keep_z:
        return z * h_prev + (ONE - z) * hc
    return z * hc + (ONE - z) * h_prev


class GatedForward(NamedTuple):
    """A layer's arrays for recurrence.forward, and which terms its cell has (Spec)."""
    gates: np.ndarray    # (T, B, 3H) in: the input terms of the pre-activations r, z, h~;
                         # out: the activated r, z, h~
    hiddens: np.ndarray  # (T+1, B, H) in: [0] = h0; out: h_t
    rh: np.ndarray       # (T, B, H) out: r * h_{t-1}
    th: np.ndarray       # (T, B, H) out: tanh(h_{t-1}) (tanh_z only)
    w_h: np.ndarray      # (H, n_rz*H [+ H] + H), see the module notes
    bias: np.ndarray     # (3H,)
    panels: np.ndarray   # scratch for all of W_h packed (tiles.panels_shape(w_h, False))
    n_rz: int
    tanh_z: bool
    keep_z: bool
    phases: int = 2


@kernel
def _forward_start(cell, r0, r1, u0, u1):
    """tanh(h0), which MUT3's first z reads."""
    if cell.tanh_z:
        _tanh_rows(cell.hiddens[0, r0:r1], cell.th[0, r0:r1], u0, u1)


@kernel
def _forward_phase(cell, phase, t, r0, r1, u0, u1):
    """Phase 0: r and z (and r * h); phase 1: h~ and the new state."""
    T, H = cell.rh.shape[0], cell.rh.shape[2]
    g, h_prev = cell.gates[t, r0:r1], cell.hiddens[t, r0:r1]
    if phase == 0:
        strips_product(h_prev, cell.w_h, cell.panels, 0, cell.n_rz, H, u0, u1, g, ACCUMULATE,
                       AS_IS)
        if cell.tanh_z:
            strips_product(cell.th[t, r0:r1], cell.w_h, cell.panels, 1, 1, H, u0, u1, g,
                           ACCUMULATE, AS_IS)
        _gates_forward(g, cell.bias, h_prev, cell.rh[t, r0:r1], u0, u1)
        return
    hh = cell.w_h.shape[1] - H  # where W_hh starts
    strips_product(cell.rh[t, r0:r1], cell.w_h, cell.panels, hh // H, 1, H, u0, u1,
                   g[:, 2 * H - hh:], ACCUMULATE, AS_IS)
    _candidate_forward(g, cell.bias, h_prev, cell.hiddens[t + 1, r0:r1],
                       cell.th[min(t + 1, T - 1), r0:r1], cell.keep_z,
                       cell.tanh_z and t + 1 < T, u0, u1)


@kernel
def _tanh_rows(h, th, lo, hi):
    for b in range(h.shape[0]):
        for j in range(lo, hi):
            th[b, j] = tanh(h[b, j])


@kernel
def _gates_forward(gates, bias, h_prev, rh, lo, hi):
    """r and z of units lo..hi-1 at one step, and r * h_{t-1}: gates (B, >= 3H)
    the pre-activations less the bias in, activated out; the rest (B, H)."""
    B, H = h_prev.shape
    for b in range(B):
        r, z = gates[b, lo:hi], gates[b, H + lo:H + hi]
        for j in range(hi - lo):
            r[j] = sigmoid(r[j] + bias[lo + j])
        for j in range(hi - lo):
            z[j] = sigmoid(z[j] + bias[H + lo + j])
        hp, out = h_prev[b, lo:hi], rh[b, lo:hi]
        for j in range(hi - lo):
            out[j] = r[j] * hp[j]


@kernel
def _candidate_forward(gates, bias, h_prev, h, th_next, keep_z, with_tanh, lo, hi):
    """h~ and the new state of units lo..hi-1; with_tanh: tanh(h_t) into th_next.
    gates (B, >= 3H); h_prev may be h (generation updates in place)."""
    B, H = h.shape
    for b in range(B):
        z, hc = gates[b, H + lo:H + hi], gates[b, 2 * H + lo:2 * H + hi]
        hp, out = h_prev[b, lo:hi], h[b, lo:hi]
        for j in range(hi - lo):
            hc[j] = tanh(hc[j] + bias[2 * H + lo + j])
        for j in range(hi - lo):
            out[j] = mix(z[j], hc[j], hp[j], keep_z)
        if with_tanh:
            nt = th_next[b, lo:hi]
            for j in range(hi - lo):
                nt[j] = tanh(out[j])


@parallel_kernel
def gated_replay(gates, hiddens, keep_z, blocks):
    """Remake hiddens[1:] from the activated gates and hiddens[0]; threads split the streams."""
    T, B, G = gates.shape
    H = G // 3
    for s in prange(blocks):
        lo, hi = block_bounds(s, blocks, B)
        for t in range(T):
            for b in range(lo, hi):
                z, hc = gates[t, b, H:2 * H], gates[t, b, 2 * H:]
                hp, out = hiddens[t, b], hiddens[t + 1, b]
                for j in range(H):
                    out[j] = mix(z[j], hc[j], hp[j], keep_z)


class GatedBackward(NamedTuple):
    """A layer's arrays for recurrence.backward."""
    gates: np.ndarray    # (T, B, 3H) in: the activated r, z, h~; out: dL/d(their
                         # pre-activations)
    hiddens: np.ndarray  # (T+1, B, H) of forward (or replay)
    rh: np.ndarray       # (T, B, H) out: r * h_{t-1} remade, for the weight gradients
    th: np.ndarray       # (T, B, H) out: tanh(h_{t-1}) remade (tanh_z)
    dh: np.ndarray       # (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    dh_next: np.ndarray  # (B, H) dL/dh_t flowing back along the recurrence; out: dL/dh0
    drh: np.ndarray      # (B, H) scratch: dL/d(r * h_{t-1})
    dtz: np.ndarray      # (B, H) scratch: dL/d(tanh(h_{t-1})) (MUT3)
    w_h: np.ndarray
    panels_h: np.ndarray   # scratch for the transposes of W_h's blocks packed:
    panels_t: np.ndarray   # by h; by tanh(h); W_hh
    panels_hh: np.ndarray
    n_rz: int
    tanh_z: bool
    keep_z: bool
    phases: int = 3


@kernel
def _backward_pack(cell, lo, hi):
    H = cell.dh.shape[2]
    w_h, rz, hh = cell.w_h, cell.n_rz * H, cell.w_h.shape[1] - H
    pack(w_h[:, :rz], cell.panels_h, lo, hi, TRANSPOSED)
    if cell.tanh_z:
        pack(w_h[:, H:2 * H], cell.panels_t, lo, hi, TRANSPOSED)
    pack(w_h[:, hh:], cell.panels_hh, lo, hi, TRANSPOSED)


@kernel
def _backward_phase(cell, phase, t, r0, r1, u0, u1, dbias):
    """Phase 0: h~'s and z's gradients; 1: r's, through W_hh; 2: dL/dh_{t-1}
    through the products with h."""
    T, H = cell.dh.shape[0], cell.dh.shape[2]
    w_h, rz, hh = cell.w_h, cell.n_rz * H, cell.w_h.shape[1] - H
    g, h_prev, dh_next = cell.gates[t, r0:r1], cell.hiddens[t, r0:r1], cell.dh_next[r0:r1]
    if phase == 0:
        if t == T - 1:
            dh_next[:, u0:u1] = 0.0
        _candidate_backward(g, cell.dh[t, r0:r1], dh_next, h_prev, cell.keep_z, dbias, u0, u1)
    elif phase == 1:
        drh = cell.drh[r0:r1]
        product(g[:, 2 * H:], w_h[:, hh:], cell.panels_hh, u0, u1, drh, OVERWRITE, TRANSPOSED)
        _reset_backward(g, drh, h_prev, cell.rh[t, r0:r1], dh_next, dbias, u0, u1)
    else:
        product(g[:, :rz], w_h[:, :rz], cell.panels_h, u0, u1, dh_next, ACCUMULATE, TRANSPOSED)
        if cell.tanh_z:
            th, dtz = cell.th[t, r0:r1], cell.dtz[r0:r1]
            _tanh_rows(h_prev, th, u0, u1)
            product(g[:, H:2 * H], w_h[:, H:2 * H], cell.panels_t, u0, u1, dtz, OVERWRITE,
                    TRANSPOSED)
            _add_tanh_grad(dh_next, dtz, th, u0, u1)


recurrence.register(GatedForward, GatedBackward, _forward_phase, _backward_phase,
                    forward_start_kernel=_forward_start, backward_pack_kernel=_backward_pack)


@kernel
def _candidate_backward(gates, dh, dh_next, h_prev, keep_z, dbias, lo, hi):
    """From dL/dh_t = dh + dh_next, units lo..hi-1: the gradients of h~'s and
    z's pre-activations (over h~ and z), and dh_next = the direct part of
    dL/dh_{t-1} (through the mix)."""
    B, G = gates.shape
    H = G // 3
    for b in range(B):
        z, hc = gates[b, H + lo:H + hi], gates[b, 2 * H + lo:2 * H + hi]
        above, carried, hp = dh[b, lo:hi], dh_next[b, lo:hi], h_prev[b, lo:hi]
        for j in range(hi - lo):
            d = above[j] + carried[j]
            zj, hcj = z[j], hc[j]
            if keep_z:
                dhc, dz, carried[j] = d * (ONE - zj), d * (hp[j] - hcj), d * zj
            else:
                dhc, dz, carried[j] = d * zj, d * (hcj - hp[j]), d * (ONE - zj)
            hc[j] = dhc * (ONE - hcj * hcj)
            z[j] = dz * zj * (ONE - zj)
            dbias[H + lo + j] += z[j]
            dbias[2 * H + lo + j] += hc[j]


@kernel
def _reset_backward(gates, drh, h_prev, rh, dh_next, dbias, lo, hi):
    """From dL/d(r * h_{t-1}), units lo..hi-1: r's pre-activation gradient
    (over r), r * h_{t-1} remade, and the r * h path added to dh_next."""
    B = gates.shape[0]
    for b in range(B):
        r, d, hp = gates[b, lo:hi], drh[b, lo:hi], h_prev[b, lo:hi]
        out, carried = rh[b, lo:hi], dh_next[b, lo:hi]
        for j in range(hi - lo):
            rj = r[j]
            out[j] = rj * hp[j]
            carried[j] += d[j] * rj
            r[j] = d[j] * hp[j] * rj * (ONE - rj)
            dbias[lo + j] += r[j]


@kernel
def _add_tanh_grad(dh_next, dtz, th, lo, hi):
    for b in range(dh_next.shape[0]):
        for j in range(lo, hi):
            dh_next[b, j] += dtz[b, j] * (ONE - th[b, j] * th[b, j])


class GatedStepWeights(NamedTuple):
    """A gated layer's weights for generation (step), and its cell's terms (Spec)."""
    lookup: np.ndarray   # (V, G) layer 0's W_x x, a row per character (embedding
                         # cells: (V, H) the embedding); (0, G) above
    w_in: PackedWeights  # W_x (above layer 0, and embedding cells at 0)
    w_h1: PackedWeights  # W_h's blocks by h
    w_t: PackedWeights   # W_hz by tanh(h) (MUT3); empty otherwise
    w_hh: PackedWeights  # W_hh
    bias: np.ndarray     # (3H,)
    n_rz: int
    tanh_z: bool
    keep_z: bool
    x_first: int         # the first gate block that W_x x writes (Spec.x_cols[0])
    x_tanh: bool         # Spec.x_itself == "tanh"
    x_into_r: bool       # Spec.x_itself == "r"
    embeds: bool         # layer 0 reads lookup's rows through W_x
    work_columns: int


def step_weights(spec, w_x, w_h, bias, embed, l, V, H, pack=packed):
    """embed (V, H) for an embedding cell's layer 0, else None; pack as in
    step.dense_weights."""
    lo, hi = spec.x_cols
    if l == 0 and embed is None:  # characters straight into the gates: a lookup
        lookup = np.zeros((V, 3 * H), np.float32)
        lookup[:, lo * H:hi * H] = w_x
        w_in = pack(np.zeros((0, 3 * H), np.float32))
    else:
        lookup = (np.ascontiguousarray(embed, np.float32) if embed is not None
                  else np.zeros((0, 3 * H), np.float32))
        w_in = pack(w_x)
    rz, hh = spec.n_rz * H, w_h.shape[1] - H
    w_t = pack(w_h[:, H:2 * H] if spec.tanh_z else np.zeros((H, 0), np.float32))
    return GatedStepWeights(lookup, w_in, pack(w_h[:, :rz]), w_t, pack(w_h[:, hh:]),
                            np.asarray(bias, np.float32), spec.n_rz, spec.tanh_z, spec.keep_z,
                            lo, spec.x_itself == "tanh", spec.x_itself == "r",
                            embed is not None, 4 * _pre_columns(H))


@inline
def _pre_columns(H):
    """Room for the pre-activations in step's work: a product into a block
    starting at column 2H writes whole panels past 3H."""
    return 2 * H + packed_columns(3 * H)


@inner_kernel
def _step_inputs(weights, ids, below, pre, x):
    """pre[:, :3H] = the input terms of r, z and h~ (bias not included)."""
    H = x.shape[1]
    if weights.lookup.shape[0] > 0 and not weights.embeds:
        for k in range(ids.shape[0]):
            pre[k, :3 * H] = weights.lookup[ids[k]]
        return
    pre[:, :] = 0.0
    if weights.lookup.shape[0] > 0:
        for k in range(ids.shape[0]):
            x[k] = weights.lookup[ids[k]]
        inputs = x
    else:
        inputs = below
    add_product(inputs, weights.w_in, pre[:, weights.x_first * H:])
    for k in range(ids.shape[0]):
        row, xk = pre[k], inputs[k]
        if weights.x_tanh:
            for j in range(H):
                row[2 * H + j] += tanh(xk[j])
        elif weights.x_into_r:
            for j in range(H):
                row[j] += xk[j]


@inner_kernel
def step(weights, ids, below, state, work):
    """cells.step.cell_step for the gated cells: state (1, K, H); the gate
    arithmetic is training's (_gates_forward, _candidate_forward)."""
    K, H = state.shape[1], state.shape[2]
    # Four C-contiguous parts, so that the loops over units vectorize: the
    # pre-activations r, z, h~; r * h; the embedded character; tanh(h).
    parts = work.reshape((4, K, work.shape[1] // 4))
    pre, rh, x, th = parts[0], parts[1], parts[2][:, :H], parts[3]
    h = state[0]
    _step_inputs(weights, ids, below, pre, x)
    add_product(h, weights.w_h1, pre)
    if weights.tanh_z:
        _tanh_rows(h, th, 0, H)
        add_product(th[:, :H], weights.w_t, pre[:, H:])
    _gates_forward(pre, weights.bias, h, rh, 0, H)
    add_product(rh[:, :H], weights.w_hh, pre[:, 2 * H:])
    _candidate_forward(pre, weights.bias, h, h, th, weights.keep_z, False, 0, H)


register_step(GatedStepWeights, step)


def cell_functions(spec):
    """A gated cell module's functions (see cells/__init__.py), in order:
    layer_shapes, init_layer, forward, replay, backward, weight_grads and
    step_weights.  The parameters follow from the Spec: W_x writes the gate
    blocks x_cols, W_h holds the blocks by h, by tanh(h) and W_hh.  A cell
    reading characters stores them fused, ``w<l>`` (D + H, 3H) = [W_x; W_h]
    (D = V at layer 0, row v the input weight of character v); an embedding
    cell stores ``embed`` (V, H) at layer 0 and ``wx<l>``, ``wh<l>``.  Both
    have ``b<l>`` (3H)."""
    x_width = spec.x_cols[1] - spec.x_cols[0]
    h_width = spec.n_rz + spec.tanh_z + 1

    def layer_shapes(l, V, H):
        if not spec.embeds:
            return [(f"w{l}", ((V if l == 0 else H) + H, 3 * H)), (f"b{l}", (3 * H,))]
        embed = [("embed", (V, H))] if l == 0 else []
        return embed + [(f"wx{l}", (H, x_width * H)), (f"wh{l}", (H, h_width * H)),
                        (f"b{l}", (3 * H,))]

    def init_layer(p, l, H, rng):
        """Biases 0; the embedding N(0, 1), like the hidden states it stands beside."""
        p[f"b{l}"][:] = 0.0
        if spec.embeds and l == 0:
            p["embed"][:] = rng.standard_normal(p["embed"].shape)

    def blocks_of(p, l, H):
        """(W_x, W_h, bias, embedding or None) in the named views ``p`` of the
        parameters or, the same way, of their gradients."""
        if not spec.embeds:
            w = p[f"w{l}"]
            return w[:-H], w[-H:], p[f"b{l}"], None
        return p[f"wx{l}"], p[f"wh{l}"], p[f"b{l}"], p["embed"] if l == 0 else None

    def forward_(p, l, x, state0, ws, blocks, keep=True):
        w_x, w_h, bias, _ = blocks_of(p, l, state0.shape[-1])
        return forward(spec, w_x, w_h, bias, layer_inputs(spec, p, l, x, ws), state0, ws, l,
                       blocks, keep)

    def replay_(p, l, state0, hiddens, with_hiddens, ws, blocks):
        replay(spec, state0, hiddens, with_hiddens, ws, l, blocks)

    def backward_(p, g, l, dh, dstate0, hiddens, ws, blocks):
        H = dh.shape[-1]
        backward(spec, blocks_of(p, l, H)[1], blocks_of(g, l, H)[2], dh, dstate0, hiddens, ws,
                 l, blocks)

    def weight_grads_(p, g, l, x, hiddens, dx, ws, blocks):
        H = hiddens.shape[-1]
        dw_x, dw_h, _, d_embed = blocks_of(g, l, H)
        weight_grads(spec, blocks_of(p, l, H)[0], dw_x, dw_h, d_embed, x, hiddens, dx, ws, l,
                     blocks)

    def step_weights_(p, l, V, H, pack=packed):
        w_x, w_h, bias, embed = blocks_of(p, l, H)
        return step_weights(spec, w_x, w_h, bias, embed, l, V, H, pack)

    return (layer_shapes, init_layer, forward_, replay_, backward_, weight_grads_,
            step_weights_)
