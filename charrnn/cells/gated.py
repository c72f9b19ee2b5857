"""The recurrence shared by the GRU and MUT1-3: gated cells whose reset gate
multiplies h before the recurrent product, so each step makes two dependent
products.

Every such cell has three gate blocks, in the order r, z, h (h~, the
candidate), each H wide, and computes, with h the previous state:

    r, z = sigm(W_x x + W_h h + b)[r, z blocks]   (the cell says which terms)
    h~   = tanh(pre_h + W_hh (r * h) + b_h)        (pre_h from the input)
    h_t  = z * h + (1 - z) * h~   (GRU)   or   z * h~ + (1 - z) * h   (MUT)

A cell module (gru.py, mut1.py, ...) gives a Spec saying which terms it has;
Spec.equations() writes them out as equations, which the module's docstring
shows (a test holds the two together); this module runs them.  W_h holds, in its
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

from ..kernels.blas import AS_IS, TRANSPOSED
from ..kernels.products import matmul, matmul_two, recurrent_panels
from ..kernels.buffers import layer_buffer
from ..kernels.embedding import embedding_backward, embedding_forward
from ..kernels.rows import packed
from . import gated_step, recurrence
from .gated_kernels import GatedBackward, GatedForward, GatedReplay, add_through_tanh, tanh_rows
from .inputs import input_product, reads_characters

ONE = np.float32(1.0)


@dataclass(frozen=True)
class Spec:
    """Which terms a gated cell has."""

    n_rz: int  # blocks of W_h multiplied by h: 2 (r and z) or 1 (r only)
    tanh_z: bool  # z also reads W_hz tanh(h) (MUT3)
    keep_z: bool  # h_t = z h + (1 - z) h~ (GRU); else z h~ + (1 - z) h (MUT)
    x_cols: tuple  # the gate columns (in units of H) that W_x x writes
    # "tanh": tanh(x) is added to h~'s pre-activation (MUT1); "r": x is added to
    # r's (MUT2); both need x with H elements
    x_itself: str = ""
    embeds: bool = False  # layer 0 reads a learned H-wide embedding of the character

    def equations(self):
        """The cell's equations as these terms make them, one per line; each
        cell module's docstring shows them (a test holds the two together)."""
        has_x = [self.x_cols[0] <= block < self.x_cols[1] for block in range(3)]
        r = ["W_xr x"] * has_x[0] + ["x"] * (self.x_itself == "r") + ["W_hr h", "b_r"]
        z = ["W_xz x"] * has_x[1] + ["W_hz h"] * (self.n_rz == 2)
        z += ["W_hz tanh(h)"] * self.tanh_z + ["b_z"]
        candidate = ["W_xh x"] * has_x[2] + ["tanh(x)"] * (self.x_itself == "tanh")
        candidate += ["W_hh (r * h)", "b_h"]
        new = "z * h + (1 - z) * h~" if self.keep_z else "z * h~ + (1 - z) * h"
        lines = [
            f"r   = sigm({' + '.join(r)})",
            f"z   = sigm({' + '.join(z)})",
            f"h~  = tanh({' + '.join(candidate)})",
            f"h_t = {new}",
        ]
        if self.embeds:
            lines.append("x   = embed[c] at layer 0 (c the character), h of the layer below above")
        return "\n".join(lines)


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
    input_product(x, w_x, gates[:, :, lo * H : hi * H], blocks, ws)
    if spec.x_itself == "tanh":  # tanh as every kernel makes it (the step's, backward's)
        tanh_rows(x.reshape(T * B, H), gates[:, :, 2 * H :].reshape(T * B, H), 0, H)
    elif spec.x_itself == "r":
        gates[:, :, :H] = x
    hiddens = ws.take(f"hiddens{l % 2}", (T + 1, B, H), dtype)
    hiddens[0] = state0[0]
    rh, th = _scratch(ws, T, B, H, dtype)
    panels = recurrent_panels(ws, "panels", w_h, transposed=False)
    recurrence.run_forward(
        GatedForward(
            gates, hiddens, rh, th, w_h, bias, panels, spec.n_rz, spec.tanh_z, spec.keep_z
        ),
        blocks,
    )
    return (hiddens,)


def _scratch(ws, T, B, H, dtype):
    """r * h_{t-1} and tanh(h_{t-1}) for every step, (T, B, H) each."""
    return ws.take("rh", (T, B, H), dtype), ws.take("th", (T, B, H), dtype)


def _transposed_panels(spec, ws, w_h, H):
    """Packing buffers for the transposes of W_h's blocks, each packed alone:
    (by h, by tanh(h), W_hh).  (Forward packs all of W_h at once.)"""
    widths = (spec.n_rz * H, H if spec.tanh_z else 0, H)
    return tuple(
        recurrent_panels(ws, f"panels{i}", w_h[:, :k], transposed=True)
        for i, k in enumerate(widths)
    )


def replay(spec, state0, hiddens, with_hiddens, ws, l, blocks):
    """Remake layer l's hiddens from its gates (forward kept them), bit for bit."""
    if not with_hiddens:
        return
    T, B, H = hiddens.shape[0] - 1, hiddens.shape[1], hiddens.shape[2]
    hiddens[0] = state0[0]
    recurrence.run_replay(
        GatedReplay(ws.take(f"gates{l}", (T, B, 3 * H), hiddens.dtype), hiddens, spec.keep_z),
        blocks,
    )


def backward(spec, w_h, dbias, dh, dstate0, hiddens, ws, l, blocks):
    """Backpropagate the recurrence: the gate gradients go over the gates;
    rh and th are remade for the weight gradients."""
    T, B, H = dh.shape
    rh, th = _scratch(ws, T, B, H, dh.dtype)
    cell = GatedBackward(
        ws.take(f"gates{l}", (T, B, 3 * H), dh.dtype),
        hiddens,
        rh,
        th,
        dh,
        dstate0[0],
        ws.take("drh", (B, H), dh.dtype),
        ws.take("dtz", (B, H), dh.dtype),
        w_h,
        *_transposed_panels(spec, ws, w_h, H),
        spec.n_rz,
        spec.tanh_z,
        spec.keep_z,
    )
    recurrence.run_backward(cell, dbias, blocks)


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
    dx_cols = dgates[:, lo * H : hi * H]
    rz = spec.n_rz * H
    # the W_h blocks: by h, by tanh(h) (MUT3), and W_hh by r * h
    matmul_two(
        h_prev,
        dgates[:, :rz],
        dw_h[:, :rz],
        TRANSPOSED,
        AS_IS,
        rh,
        dgates[:, 2 * H :],
        dw_h[:, -H:],
        TRANSPOSED,
        AS_IS,
        blocks,
        ws,
    )
    if spec.tanh_z:
        matmul(th, dgates[:, H : 2 * H], dw_h[:, H : 2 * H], TRANSPOSED, AS_IS, 0.0, blocks, ws)
    embedded = spec.embeds and reads_characters(x)
    if reads_characters(x) and not embedded:
        embedding_backward(dw_x, dgates3[:, :, lo * H : hi * H], x, blocks)
        return
    x_in = ws.take("embedded", (T, B, H), hiddens.dtype) if embedded else x
    if embedded:
        dx = ws.take("dembedded", (T, B, H), hiddens.dtype)
    matmul(x_in.reshape(N, -1), dx_cols, dw_x, TRANSPOSED, AS_IS, 0.0, blocks, ws)
    matmul(dx_cols, w_x, dx.reshape(N, -1), AS_IS, TRANSPOSED, 0.0, blocks, ws)
    if spec.x_itself == "tanh":
        add_through_tanh(dx.reshape(N, H), dgates[:, 2 * H :], x_in.reshape(N, H))
    elif spec.x_itself == "r":
        dx.reshape(N, H)[:] += dgates[:, :H]
    if embedded:
        embedding_backward(d_embed, dx, x, blocks)


class GatedLayers:
    """A gated cell's layers, from its Spec: the functions of the cell
    protocol (cells/__init__.py), which the cell module names.  The
    parameters follow from the Spec: W_x writes the gate blocks x_cols, W_h
    holds the blocks by h, by tanh(h) and W_hh.  A cell reading characters
    stores them fused, ``w<l>`` (D + H, 3H) = [W_x; W_h] (D = V at layer 0,
    row v the input weight of character v); an embedding cell stores
    ``embed`` (V, H) at layer 0 and ``wx<l>``, ``wh<l>``.  Both have ``b<l>`` (3H)."""

    STATES = ("h",)
    SHOWN = ("h", None)
    TORCH = None  # nn.GRU resets after W_hh, not before; the MUTs have no module

    def __init__(self, spec):
        self.spec = spec

    def layer_shapes(self, l, V, H):
        spec = self.spec
        if not spec.embeds:
            return [(f"w{l}", ((V if l == 0 else H) + H, 3 * H)), (f"b{l}", (3 * H,))]
        x_width = spec.x_cols[1] - spec.x_cols[0]
        h_width = spec.n_rz + spec.tanh_z + 1
        embed = [("embed", (V, H))] if l == 0 else []
        return embed + [
            (f"wx{l}", (H, x_width * H)),
            (f"wh{l}", (H, h_width * H)),
            (f"b{l}", (3 * H,)),
        ]

    def init_layer(self, p, l, H, rng):
        """Biases 0; the embedding N(0, 1), like the hidden states it stands beside."""
        p[f"b{l}"][:] = 0.0
        if self.spec.embeds and l == 0:
            p["embed"][:] = rng.standard_normal(p["embed"].shape)

    def blocks_of(self, p, l, H):
        """LayerBlocks in the named views ``p`` of the parameters or, the same
        way, of their gradients."""
        if not self.spec.embeds:
            w = p[f"w{l}"]
            return LayerBlocks(w[:-H], w[-H:], p[f"b{l}"], None)
        return LayerBlocks(p[f"wx{l}"], p[f"wh{l}"], p[f"b{l}"], p["embed"] if l == 0 else None)

    def forward(self, p, l, x, state0, ws, blocks, keep=True):
        w = self.blocks_of(p, l, state0.shape[-1])
        return forward(
            self.spec,
            w.w_x,
            w.w_h,
            w.bias,
            layer_inputs(self.spec, p, l, x, ws),
            state0,
            ws,
            l,
            blocks,
            keep,
        )

    def replay(self, p, l, state0, hiddens, with_hiddens, ws, blocks):
        replay(self.spec, state0, hiddens, with_hiddens, ws, l, blocks)

    def backward(self, p, g, l, dh, dstate0, hiddens, ws, blocks):
        H = dh.shape[-1]
        backward(
            self.spec,
            self.blocks_of(p, l, H).w_h,
            self.blocks_of(g, l, H).bias,
            dh,
            dstate0,
            hiddens,
            ws,
            l,
            blocks,
        )

    def weight_grads(self, p, g, l, x, hiddens, dx, ws, blocks):
        H = hiddens.shape[-1]
        d = self.blocks_of(g, l, H)
        weight_grads(
            self.spec,
            self.blocks_of(p, l, H).w_x,
            d.w_x,
            d.w_h,
            d.embed,
            x,
            hiddens,
            dx,
            ws,
            l,
            blocks,
        )

    def step_weights(self, p, l, V, H, pack=packed):
        w = self.blocks_of(p, l, H)
        return gated_step.step_weights(self.spec, w.w_x, w.w_h, w.bias, w.embed, l, V, H, pack)


class LayerBlocks(NamedTuple):
    """A gated layer's parameters (or their gradients), by role."""

    w_x: np.ndarray
    w_h: np.ndarray
    bias: np.ndarray
    embed: np.ndarray  # (V, H) at layer 0 of an embedding cell, else None
