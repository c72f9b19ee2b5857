"""The compiled half of the gated cells (gated.py): their arrays for
recurrence.py's schedule, their phases, and the gate arithmetic that
training and generation (gated_step.py) share.

Dimension key: T = time steps, B = batch streams, H = hidden, G = 3H.
"""

from typing import NamedTuple

import numpy as np

from ..kernels.activations import sigmoid, tanh
from ..kernels.blas import AS_IS, TRANSPOSED
from ..kernels.jit import inline, kernel
from ..kernels.tiles import ACCUMULATE, OVERWRITE, pack, product
from . import recurrence
from .recurrence import strips_product

ONE = np.float32(1.0)


@kernel
def add_through_tanh(dx, dpre, x):
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
    """A layer's arrays for recurrence.run_forward, and which terms its cell has (Spec)."""

    # (T, B, 3H) in: the input terms of the pre-activations r, z, h~; out: the activated r, z, h~
    gates: np.ndarray
    hiddens: np.ndarray  # (T+1, B, H) in: [0] = h0; out: h_t
    rh: np.ndarray  # (T, B, H) out: r * h_{t-1}
    th: np.ndarray  # (T, B, H) out: tanh(h_{t-1}) (tanh_z only)
    w_h: np.ndarray  # (H, n_rz*H [+ H] + H), see the module notes
    bias: np.ndarray  # (3H,)
    panels: np.ndarray  # scratch for all of W_h packed (tiles.panels_shape(w_h, False))
    n_rz: int
    tanh_z: bool
    keep_z: bool
    phases: int = 2


@kernel
def _forward_start(cell, r0, r1, u0, u1):
    """tanh(h0), which MUT3's first z reads."""
    if cell.tanh_z:
        tanh_rows(cell.hiddens[0, r0:r1], cell.th[0, r0:r1], u0, u1)


@kernel
def _forward_phase(cell, phase, t, r0, r1, u0, u1):
    """Phase 0: r and z (and r * h); phase 1: h~ and the new state."""
    T, H = cell.rh.shape[0], cell.rh.shape[2]
    g, h_prev = cell.gates[t, r0:r1], cell.hiddens[t, r0:r1]
    if phase == 0:
        strips_product(h_prev, cell.w_h, cell.panels, 0, cell.n_rz, H, u0, u1, g, ACCUMULATE, AS_IS)
        if cell.tanh_z:
            strips_product(
                cell.th[t, r0:r1], cell.w_h, cell.panels, 1, 1, H, u0, u1, g, ACCUMULATE, AS_IS
            )
        gates_forward(g, cell.bias, h_prev, cell.rh[t, r0:r1], u0, u1)
        return
    hh = cell.w_h.shape[1] - H  # where W_hh starts
    strips_product(
        cell.rh[t, r0:r1],
        cell.w_h,
        cell.panels,
        hh // H,
        1,
        H,
        u0,
        u1,
        g[:, 2 * H - hh :],
        ACCUMULATE,
        AS_IS,
    )
    candidate_forward(
        g,
        cell.bias,
        h_prev,
        cell.hiddens[t + 1, r0:r1],
        cell.th[min(t + 1, T - 1), r0:r1],
        cell.keep_z,
        cell.tanh_z and t + 1 < T,
        u0,
        u1,
    )


@kernel
def tanh_rows(h, th, lo, hi):
    for b in range(h.shape[0]):
        for j in range(lo, hi):
            th[b, j] = tanh(h[b, j])


@kernel
def gates_forward(gates, bias, h_prev, rh, lo, hi):
    """r and z of units lo..hi-1 at one step, and r * h_{t-1}: gates (B, >= 3H)
    the pre-activations less the bias in, activated out; the rest (B, H)."""
    B, H = h_prev.shape
    for b in range(B):
        r, z = gates[b, lo:hi], gates[b, H + lo : H + hi]
        for j in range(hi - lo):
            r[j] = sigmoid(r[j] + bias[lo + j])
        for j in range(hi - lo):
            z[j] = sigmoid(z[j] + bias[H + lo + j])
        hp, out = h_prev[b, lo:hi], rh[b, lo:hi]
        for j in range(hi - lo):
            out[j] = r[j] * hp[j]


@kernel
def candidate_forward(gates, bias, h_prev, h, th_next, keep_z, with_tanh, lo, hi):
    """h~ and the new state of units lo..hi-1; with_tanh: tanh(h_t) into th_next.
    gates (B, >= 3H); h_prev may be h (generation updates in place)."""
    B, H = h.shape
    for b in range(B):
        z, hc = gates[b, H + lo : H + hi], gates[b, 2 * H + lo : 2 * H + hi]
        hp, out = h_prev[b, lo:hi], h[b, lo:hi]
        for j in range(hi - lo):
            hc[j] = tanh(hc[j] + bias[2 * H + lo + j])
        for j in range(hi - lo):
            out[j] = mix(z[j], hc[j], hp[j], keep_z)
        if with_tanh:
            nt = th_next[b, lo:hi]
            for j in range(hi - lo):
                nt[j] = tanh(out[j])


class GatedReplay(NamedTuple):
    """What replay reads and writes: the hiddens from the gates."""

    gates: np.ndarray  # (T, B, 3H) the activated gates of forward
    hiddens: np.ndarray  # (T+1, B, H) in: hiddens[0]; out: the rest
    keep_z: bool


@kernel
def _replay_row(cell, t, b):
    H = cell.hiddens.shape[2]
    z, hc = cell.gates[t, b, H : 2 * H], cell.gates[t, b, 2 * H :]
    hp, out = cell.hiddens[t, b], cell.hiddens[t + 1, b]
    for j in range(H):
        out[j] = mix(z[j], hc[j], hp[j], cell.keep_z)


recurrence.register_replay(GatedReplay, _replay_row)


class GatedBackward(NamedTuple):
    """A layer's arrays for recurrence.run_backward."""

    gates: np.ndarray  # (T, B, 3H) in: the activated r, z, h~; out: dL/d(pre-activations)
    hiddens: np.ndarray  # (T+1, B, H) of forward (or replay)
    rh: np.ndarray  # (T, B, H) out: r * h_{t-1} remade, for the weight gradients
    th: np.ndarray  # (T, B, H) out: tanh(h_{t-1}) remade (tanh_z)
    dh: np.ndarray  # (T, B, H) in: dL/dh_t from the layer above (or the decoder)
    dh_next: np.ndarray  # (B, H) dL/dh_t flowing back along the recurrence; out: dL/dh0
    drh: np.ndarray  # (B, H) scratch: dL/d(r * h_{t-1})
    dtz: np.ndarray  # (B, H) scratch: dL/d(tanh(h_{t-1})) (MUT3)
    w_h: np.ndarray
    panels_h: np.ndarray  # scratch for the transposes of W_h's blocks packed:
    panels_t: np.ndarray  # by h; by tanh(h); W_hh
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
        pack(w_h[:, H : 2 * H], cell.panels_t, lo, hi, TRANSPOSED)
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
        product(g[:, 2 * H :], w_h[:, hh:], cell.panels_hh, u0, u1, drh, OVERWRITE, TRANSPOSED)
        _reset_backward(g, drh, h_prev, cell.rh[t, r0:r1], dh_next, dbias, u0, u1)
    else:
        product(g[:, :rz], w_h[:, :rz], cell.panels_h, u0, u1, dh_next, ACCUMULATE, TRANSPOSED)
        if cell.tanh_z:
            th, dtz = cell.th[t, r0:r1], cell.dtz[r0:r1]
            tanh_rows(h_prev, th, u0, u1)
            product(
                g[:, H : 2 * H],
                w_h[:, H : 2 * H],
                cell.panels_t,
                u0,
                u1,
                dtz,
                OVERWRITE,
                TRANSPOSED,
            )
            _add_tanh_grad(dh_next, dtz, th, u0, u1)


recurrence.register(
    GatedForward,
    GatedBackward,
    _forward_phase,
    _backward_phase,
    forward_start_kernel=_forward_start,
    backward_pack_kernel=_backward_pack,
)


@kernel
def _candidate_backward(gates, dh, dh_next, h_prev, keep_z, dbias, lo, hi):
    """From dL/dh_t = dh + dh_next, units lo..hi-1: the gradients of h~'s and
    z's pre-activations (over h~ and z), and dh_next = the direct part of
    dL/dh_{t-1} (through the mix)."""
    B, G = gates.shape
    H = G // 3
    for b in range(B):
        z, hc = gates[b, H + lo : H + hi], gates[b, 2 * H + lo : 2 * H + hi]
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
