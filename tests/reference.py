"""Obviously-correct NumPy models, written from the cells' equations (the
lecture digest, ../shared/reference/SEEDS.md), not from charrnn's kernels:
float64, one step at a time, one-hot characters, no dropout, no threads.

Each cell's layer step: ``STEPS[cell](p, l, x, state) -> new state`` with x
(B, D) the layer's input (one-hot characters at layer 0, unless the cell
embeds them) and state (S, B, H); the parameter names and layouts are
charrnn's (model.views), documented in each cell module.
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
    i, f, o, g = sigm(z[:, :H]), sigm(z[:, H:2 * H]), sigm(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
    c = f * c + i * g
    return np.stack([o * np.tanh(c), c])


STEPS = {"lstm": lstm_step}


def reference_forward(params, cfg, inputs, targets, state0):
    """(summed loss, final state (L, S, B, H)) of a chunk; inputs, targets (T, B)."""
    p = views(np.asarray(params, np.float64), cfg)
    step = STEPS[cfg.cell]
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
