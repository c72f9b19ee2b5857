"""Generation's step for the gated cells (gated.py): the gate arithmetic is
training's (gated_kernels.py), the products are of a few rows."""

from typing import NamedTuple

import numpy as np

from ..kernels.activations import tanh
from ..kernels.jit import inline, inner_kernel
from ..kernels.rows import PackedWeights, add_product, packed, packed_columns
from .gated_kernels import candidate_forward, gates_forward, tanh_rows
from .step import register_step


class GatedStepWeights(NamedTuple):
    """A gated layer's weights for generation (step), and its cell's terms (Spec)."""

    # (V, G) layer 0's W_x x, a row per character (embedding cells: (V, H) the
    # embedding); (0, G) above
    lookup: np.ndarray
    w_in: PackedWeights  # W_x (above layer 0, and embedding cells at 0)
    w_h1: PackedWeights  # W_h's blocks by h
    w_t: PackedWeights  # W_hz by tanh(h) (MUT3); empty otherwise
    w_hh: PackedWeights  # W_hh
    bias: np.ndarray  # (3H,)
    n_rz: int
    tanh_z: bool
    keep_z: bool
    x_first: int  # the first gate block that W_x x writes (Spec.x_cols[0])
    x_tanh: bool  # Spec.x_itself == "tanh"
    x_into_r: bool  # Spec.x_itself == "r"
    embeds: bool  # layer 0 reads lookup's rows through W_x
    work_columns: int


def step_weights(spec, w_x, w_h, bias, embed, l, V, H, pack=packed):
    """embed (V, H) for an embedding cell's layer 0, else None; pack as in
    step.dense_weights."""
    lo, hi = spec.x_cols
    if l == 0 and embed is None:  # characters straight into the gates: a lookup
        lookup = np.zeros((V, 3 * H), np.float32)
        lookup[:, lo * H : hi * H] = w_x
        w_in = pack(np.zeros((0, 3 * H), np.float32))
    else:
        lookup = (
            np.ascontiguousarray(embed, np.float32)
            if embed is not None
            else np.zeros((0, 3 * H), np.float32)
        )
        w_in = pack(w_x)
    rz, hh = spec.n_rz * H, w_h.shape[1] - H
    w_t = pack(w_h[:, H : 2 * H] if spec.tanh_z else np.zeros((H, 0), np.float32))
    return GatedStepWeights(
        lookup,
        w_in,
        pack(w_h[:, :rz]),
        w_t,
        pack(w_h[:, hh:]),
        np.asarray(bias, np.float32),
        spec.n_rz,
        spec.tanh_z,
        spec.keep_z,
        lo,
        spec.x_itself == "tanh",
        spec.x_itself == "r",
        embed is not None,
        4 * _pre_columns(H),
    )


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
            pre[k, : 3 * H] = weights.lookup[ids[k]]
        return
    pre[:, :] = 0.0
    if weights.lookup.shape[0] > 0:
        for k in range(ids.shape[0]):
            x[k] = weights.lookup[ids[k]]
        inputs = x
    else:
        inputs = below
    add_product(inputs, weights.w_in, pre[:, weights.x_first * H :])
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
    arithmetic is training's (gates_forward, candidate_forward)."""
    K, H = state.shape[1], state.shape[2]
    # Four C-contiguous parts, so that the loops over units vectorize: the
    # pre-activations r, z, h~; r * h; the embedded character; tanh(h).
    parts = work.reshape((4, K, work.shape[1] // 4))
    pre, rh, x, th = parts[0], parts[1], parts[2][:, :H], parts[3]
    h = state[0]
    _step_inputs(weights, ids, below, pre, x)
    add_product(h, weights.w_h1, pre)
    if weights.tanh_z:
        tanh_rows(h, th, 0, H)
        add_product(th[:, :H], weights.w_t, pre[:, H:])
    gates_forward(pre, weights.bias, h, rh, 0, H)
    add_product(rh[:, :H], weights.w_hh, pre[:, 2 * H :])
    candidate_forward(pre, weights.bias, h, h, th, weights.keep_z, with_tanh=False, lo=0, hi=H)


register_step(GatedStepWeights, step)
