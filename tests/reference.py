"""Obviously-correct NumPy models, written from the cells' equations (the
lecture digest, ../shared/reference/SEEDS.md), not from charrnn's kernels:
float64, one step at a time, one-hot characters, no dropout, no threads.

Each cell's layer step: ``STEPS[cell](p, l, x, state) -> new state`` with x
(B, D) the layer's input (one-hot characters at layer 0; the mut1 and mut2
steps embed them themselves) and state (S, B, H); the parameter names and
layouts are charrnn's (model.views), documented in each cell module.
"""

import numpy as np

from charrnn.model import views


def sigm(z):
    return 1 / (1 + np.exp(-z))


def lstm_step(p, l, x, state):
    h, c = state
    w, b = p[f"w{l}"], p[f"b{l}"]
    H = h.shape[1]
    z = np.concatenate([x, h], axis=1) @ w + b
    i, f, o, g = (
        sigm(z[:, :H]),
        sigm(z[:, H : 2 * H]),
        sigm(z[:, 2 * H : 3 * H]),
        np.tanh(z[:, 3 * H :]),
    )
    c = f * c + i * g
    return np.stack([o * np.tanh(c), c])


def rnn_step(p, l, x, state):
    """h_t = tanh(W_xh x + W_hh h + b)."""
    h = state[0]
    w, b = p[f"w{l}"], p[f"b{l}"]
    H = h.shape[1]
    w_xh, w_hh = w[:-H], w[-H:]
    return np.stack([np.tanh(x @ w_xh + h @ w_hh + b)])


def gru_step(p, l, x, state):
    """r = sigm(W_xr x + W_hr h + b_r); z = sigm(W_xz x + W_hz h + b_z);
    h~ = tanh(W_xh x + W_hh (r*h) + b_h); h_t = z*h + (1-z)*h~."""
    h = state[0]
    w, b = p[f"w{l}"], p[f"b{l}"]
    H = h.shape[1]
    w_x, w_h = w[:-H], w[-H:]
    w_xr, w_xz, w_xh = w_x[:, :H], w_x[:, H : 2 * H], w_x[:, 2 * H :]
    w_hr, w_hz, w_hh = w_h[:, :H], w_h[:, H : 2 * H], w_h[:, 2 * H :]
    b_r, b_z, b_h = b[:H], b[H : 2 * H], b[2 * H :]
    r = sigm(x @ w_xr + h @ w_hr + b_r)
    z = sigm(x @ w_xz + h @ w_hz + b_z)
    h_new = np.tanh(x @ w_xh + (r * h) @ w_hh + b_h)
    return np.stack([z * h + (1 - z) * h_new])


def mut1_step(p, l, x, state):
    """z = sigm(W_xz x + b_z); r = sigm(W_xr x + W_hr h + b_r);
    h_t = tanh(W_hh (r*h) + tanh(x) + b_h) * z + h * (1-z); x embedded at layer 0."""
    h = state[0]
    if l == 0:
        x = x @ p["embed"]
    wx, wh, b = p[f"wx{l}"], p[f"wh{l}"], p[f"b{l}"]
    H = h.shape[1]
    w_xr, w_xz = wx[:, :H], wx[:, H:]
    w_hr, w_hh = wh[:, :H], wh[:, H:]
    b_r, b_z, b_h = b[:H], b[H : 2 * H], b[2 * H :]
    z = sigm(x @ w_xz + b_z)
    r = sigm(x @ w_xr + h @ w_hr + b_r)
    return np.stack([np.tanh((r * h) @ w_hh + np.tanh(x) + b_h) * z + h * (1 - z)])


def mut2_step(p, l, x, state):
    """z = sigm(W_xz x + W_hz h + b_z); r = sigm(x + W_hr h + b_r);
    h_t = tanh(W_hh (r*h) + W_xh x + b_h) * z + h * (1-z); x embedded at layer 0."""
    h = state[0]
    if l == 0:
        x = x @ p["embed"]
    wx, wh, b = p[f"wx{l}"], p[f"wh{l}"], p[f"b{l}"]
    H = h.shape[1]
    w_xz, w_xh = wx[:, :H], wx[:, H:]
    w_hr, w_hz, w_hh = wh[:, :H], wh[:, H : 2 * H], wh[:, 2 * H :]
    b_r, b_z, b_h = b[:H], b[H : 2 * H], b[2 * H :]
    z = sigm(x @ w_xz + h @ w_hz + b_z)
    r = sigm(x + h @ w_hr + b_r)
    return np.stack([np.tanh((r * h) @ w_hh + x @ w_xh + b_h) * z + h * (1 - z)])


def mut3_step(p, l, x, state):
    """z = sigm(W_xz x + W_hz tanh(h) + b_z); r = sigm(W_xr x + W_hr h + b_r);
    h_t = tanh(W_hh (r*h) + W_xh x + b_h) * z + h * (1-z)."""
    h = state[0]
    w, b = p[f"w{l}"], p[f"b{l}"]
    H = h.shape[1]
    w_x, w_h = w[:-H], w[-H:]
    w_xr, w_xz, w_xh = w_x[:, :H], w_x[:, H : 2 * H], w_x[:, 2 * H :]
    w_hr, w_hz, w_hh = w_h[:, :H], w_h[:, H : 2 * H], w_h[:, 2 * H :]
    b_r, b_z, b_h = b[:H], b[H : 2 * H], b[2 * H :]
    z = sigm(x @ w_xz + np.tanh(h) @ w_hz + b_z)
    r = sigm(x @ w_xr + h @ w_hr + b_r)
    return np.stack([np.tanh((r * h) @ w_hh + x @ w_xh + b_h) * z + h * (1 - z)])


STEPS = {
    "lstm": lstm_step,
    "rnn": rnn_step,
    "gru": gru_step,
    "mut1": mut1_step,
    "mut2": mut2_step,
    "mut3": mut3_step,
}


def step_of(cell):
    """The reference step of ``cell``: a registered cell without one fails the
    tests that need it (it is not skipped)."""
    if cell not in STEPS:
        raise AssertionError(
            f"cell {cell!r} has no NumPy reference: add one to "
            "tests/reference.py, written from its equations"
        )
    return STEPS[cell]


def reference_forward(params, cfg, inputs, targets, state0):
    """(summed loss, final state (L, S, B, H)) of a chunk; inputs, targets (T, B)."""
    p = views(np.asarray(params, np.float64), cfg)
    step = step_of(cfg.cell)
    T, B = inputs.shape
    x = np.eye(cfg.vocab_size)[inputs]  # (T, B, V)
    state = np.array(state0, np.float64)
    for l in range(cfg.layers):
        outs = []
        for t in range(T):
            state[l] = step(p, l, x[t], state[l])
            outs.append(state[l, 0].copy())
        x = np.stack(outs)
    logits = x @ p["w_y"] + p["b_y"]
    logits -= logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    loss = -np.take_along_axis(logp, targets[..., None], axis=-1).sum()
    return loss, state
