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
Threads share the work as the LSTM's do (lstm.py): by streams for a small
W_h, else by hidden units, meeting twice per step (the second product needs
all of r*h).
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
from ..kernels.tiles import pack, panels_shape, product, unit_bounds
from .inputs import input_product, reads_characters
from .lstm import split_streams
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
    gated_forward(gates, hiddens, rh, th, w_h, bias, *spec.flags(), blocks,
                  ws.take("panels", panels_shape(w_h, False), dtype))
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
    gated_backward(ws.take(f"gates{l}", (T, B, 3 * H), dh.dtype), dstate0[0], dh, hiddens, rh,
                   th, w_h, dbias, *spec.flags(), blocks, *_transposed_panels(spec, ws, w_h, H))


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


@parallel_kernel
def gated_forward(gates, hiddens, rh, th, w_h, bias, n_rz, tanh_z, keep_z, blocks, panels):
    """Run the recurrence in place.

    gates   (T, B, 3H) in: the input terms of the pre-activations r, z, h~;
            out: the activated r, z, h~
    hiddens (T+1, B, H) in: [0] = h0; out: h_t
    rh, th  (T, B, H) out: r * h_{t-1}; tanh(h_{t-1}) (tanh_z only)
    w_h     (H, n_rz*H [+ H] + H), see the module notes; bias (3H,)
    panels  scratch for all of W_h packed (tiles.panels_shape(w_h, False))
    """
    T, B, G = gates.shape
    H = G // 3
    hh = w_h.shape[1] - H  # where W_hh starts
    rz = n_rz * H
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        for k in range(w_h.shape[1] // H):
            pack(w_h, panels, k * H + lo, k * H + hi, False)
    if split_streams(w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            if tanh_z:
                _tanh_rows(hiddens[0, lo:hi], th[0, lo:hi], 0, H)
            for t in range(T):
                g = gates[t, lo:hi]
                product(hiddens[t, lo:hi], w_h, panels, 0, rz, g, True, False)
                if tanh_z:
                    product(th[t, lo:hi], w_h, panels, H, 2 * H, g, True, False)
                _gates_forward(g, bias, hiddens[t, lo:hi], rh[t, lo:hi], 0, H)
                product(rh[t, lo:hi], w_h, panels, hh, hh + H, g[:, 2 * H - hh:], True, False)
                _candidate_forward(g, bias, hiddens[t, lo:hi], hiddens[t + 1, lo:hi],
                                   th[min(t + 1, T - 1), lo:hi], keep_z, tanh_z and t + 1 < T,
                                   0, H)
        return
    if tanh_z:
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            _tanh_rows(hiddens[0], th[0], lo, hi)
    for t in range(T):
        g = gates[t]
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            for k in range(n_rz):
                product(hiddens[t], w_h, panels, k * H + lo, k * H + hi, g, True, False)
            if tanh_z:
                product(th[t], w_h, panels, H + lo, H + hi, g, True, False)
            _gates_forward(g, bias, hiddens[t], rh[t], lo, hi)
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            product(rh[t], w_h, panels, hh + lo, hh + hi, g[:, 2 * H - hh:], True, False)
            _candidate_forward(g, bias, hiddens[t], hiddens[t + 1], th[min(t + 1, T - 1)],
                               keep_z, tanh_z and t + 1 < T, lo, hi)


@kernel
def _tanh_rows(h, th, lo, hi):
    for b in range(h.shape[0]):
        for j in range(lo, hi):
            th[b, j] = tanh(h[b, j])


@kernel
def _gates_forward(gates, bias, h_prev, rh, lo, hi):
    """r and z of units lo..hi-1 at one step, and r * h_{t-1}: gates (B, 3H)."""
    B, G = gates.shape
    H = G // 3
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
    """h~ and the new state of units lo..hi-1; with_tanh: tanh(h_t) into th_next."""
    B, G = gates.shape
    H = G // 3
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


@parallel_kernel
def gated_backward(gates, dh0, dh, hiddens, rh, th, w_h, dbias, n_rz, tanh_z, keep_z, blocks,
                   panels_h, panels_t, panels_hh):
    """Backpropagate through the chunk, t = T-1 .. 0.

    gates   (T, B, 3H) in: the activated r, z, h~; out: dL/d(their pre-activations)
    dh0     (B, H) out: dL/dh0
    dh      (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    hiddens (T+1, B, H) of forward (or replay)
    rh, th  (T, B, H) out: r * h_{t-1} and tanh(h_{t-1}) remade, for the weight gradients
    dbias   (3H,) out
    panels_h, panels_t, panels_hh: scratch for the transposes of W_h's blocks
            (by h; by tanh(h); W_hh) packed
    """
    T, B, G = gates.shape
    H = G // 3
    hh = w_h.shape[1] - H
    rz = n_rz * H
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, H)
        pack(w_h[:, :rz], panels_h, lo, hi, True)
        if tanh_z:
            pack(w_h[:, H:2 * H], panels_t, lo, hi, True)
        pack(w_h[:, hh:], panels_hh, lo, hi, True)
    dh_next = dh0  # dL/dh_t flowing back along the recurrence
    drh = np.empty((B, H), gates.dtype)     # dL/d(r * h_{t-1})
    dtz = np.empty((B, H), gates.dtype)     # dL/d(tanh(h_{t-1})) (MUT3)
    dbias_parts = np.zeros((blocks, G), gates.dtype)
    if split_streams(w_h, B, blocks):
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, B)
            dh_next[lo:hi] = 0.0
            for t in range(T - 1, -1, -1):
                g = gates[t, lo:hi]
                _candidate_backward(g, dh[t, lo:hi], dh_next[lo:hi], hiddens[t, lo:hi], keep_z,
                                    dbias_parts[s], 0, H)
                product(g[:, 2 * H:], w_h[:, hh:], panels_hh, 0, H, drh[lo:hi], False, True)
                _reset_backward(g, drh[lo:hi], hiddens[t, lo:hi], rh[t, lo:hi], dh_next[lo:hi],
                                dbias_parts[s], 0, H)
                product(g[:, :rz], w_h[:, :rz], panels_h, 0, H, dh_next[lo:hi], True, True)
                if tanh_z:
                    _tanh_rows(hiddens[t, lo:hi], th[t, lo:hi], 0, H)
                    product(g[:, H:2 * H], w_h[:, H:2 * H], panels_t, 0, H, dtz[lo:hi], False,
                            True)
                    _add_tanh_grad(dh_next[lo:hi], dtz[lo:hi], th[t, lo:hi], 0, H)
        dbias[:] = 0.0
        for s in range(blocks):  # a fixed order
            dbias += dbias_parts[s]
        return
    for t in range(T - 1, -1, -1):
        g = gates[t]
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            if t == T - 1:
                dh_next[:, lo:hi] = 0.0
            _candidate_backward(g, dh[t], dh_next, hiddens[t], keep_z, dbias_parts[s], lo, hi)
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            product(g[:, 2 * H:], w_h[:, hh:], panels_hh, lo, hi, drh, False, True)
            _reset_backward(g, drh, hiddens[t], rh[t], dh_next, dbias_parts[s], lo, hi)
        for s in prange(blocks):
            lo, hi = unit_bounds(s, blocks, H)
            product(g[:, :rz], w_h[:, :rz], panels_h, lo, hi, dh_next, True, True)
            if tanh_z:
                _tanh_rows(hiddens[t], th[t], lo, hi)
                product(g[:, H:2 * H], w_h[:, H:2 * H], panels_t, lo, hi, dtz, False, True)
                _add_tanh_grad(dh_next, dtz, th[t], lo, hi)
            if t == 0:
                for k in range(3):
                    dbias[k * H + lo:k * H + hi] = dbias_parts[s, k * H + lo:k * H + hi]


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
    """A gated layer's weights for generation (step)."""
    lookup: np.ndarray   # (V, G) layer 0's W_x x, a row per character (embedding
                         # cells: (V, H) the embedding); (0, G) above
    w_in: PackedWeights  # W_x (above layer 0, and embedding cells at 0)
    w_h1: PackedWeights  # W_h's blocks by h
    w_t: PackedWeights   # W_hz by tanh(h) (MUT3); empty otherwise
    w_hh: PackedWeights  # W_hh
    bias: np.ndarray     # (3H,)
    flags: np.ndarray    # (n_rz, tanh_z, keep_z, x_lo, x_hi, x_itself: 0 none 1 tanh 2 r,
                         #  embeds)
    work_columns: int


def step_weights(spec, w_x, w_h, bias, embed, l, V, H, pack=packed):
    """embed (V, H) for an embedding cell's layer 0, else None; pack as in
    lstm.step_weights."""
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
    flags = np.array([spec.n_rz, spec.tanh_z, spec.keep_z, lo, hi,
                      {"": 0, "tanh": 1, "r": 2}[spec.x_itself], embed is not None], np.int64)
    w_t = pack(w_h[:, H:2 * H] if spec.tanh_z else np.zeros((H, 0), np.float32))
    return GatedStepWeights(lookup, w_in, pack(w_h[:, :rz]), w_t, pack(w_h[:, hh:]),
                       np.asarray(bias, np.float32), flags,
                       4 * _pre_columns(H))


@inline
def _pre_columns(H):
    """Room for the pre-activations in step's work: a product into a block
    starting at column 2H writes whole panels past 3H."""
    return 2 * H + packed_columns(3 * H)


@inner_kernel
def step(weights, ids, below, state, work):
    """cells.step.cell_step for the gated cells: state (1, K, H)."""
    K, H = state.shape[1], state.shape[2]
    flags = weights.flags
    tanh_z, keep_z, x_lo, x_itself, embeds = flags[1], flags[2], flags[3], flags[5], flags[6]
    # Four C-contiguous parts, so that the loops over units vectorize: the
    # pre-activations r, z, h~; r * h; the embedded character; tanh(h).
    parts = work.reshape((4, K, work.shape[1] // 4))
    pre, rh, x, th = parts[0], parts[1], parts[2], parts[3]
    h, bias = state[0], weights.bias
    if weights.lookup.shape[0] > 0 and not embeds:
        for k in range(K):
            pre[k, :3 * H] = weights.lookup[ids[k]]
    else:
        pre[:, :] = 0.0
        if weights.lookup.shape[0] > 0:
            for k in range(K):
                x[k, :H] = weights.lookup[ids[k]]
            inputs = x[:, :H]
        else:
            inputs = below
        add_product(inputs, weights.w_in, pre[:, x_lo * H:])
        for k in range(K):
            row, xk = pre[k], inputs[k]
            if x_itself == 1:
                for j in range(H):
                    row[2 * H + j] += tanh(xk[j])
            elif x_itself == 2:
                for j in range(H):
                    row[j] += xk[j]
    add_product(h, weights.w_h1, pre)
    if tanh_z:
        for k in range(K):
            hk, tk = h[k], th[k]
            for j in range(H):
                tk[j] = tanh(hk[j])
        add_product(th[:, :H], weights.w_t, pre[:, H:])
    for k in range(K):
        row, hk, rk = pre[k], h[k], rh[k]
        for j in range(H):
            rk[j] = sigmoid(row[j] + bias[j]) * hk[j]
        for j in range(H):
            row[H + j] = sigmoid(row[H + j] + bias[H + j])
    add_product(rh[:, :H], weights.w_hh, pre[:, 2 * H:])
    for k in range(K):
        row, hk = pre[k], h[k]
        for j in range(H):
            hk[j] = mix(row[H + j], tanh(row[2 * H + j] + bias[2 * H + j]), hk[j], keep_z)


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
