"""The model against a slow NumPy reference and against finite differences (float64)."""
import numpy as np
import pytest

from charrnn.loss import softmax_cross_entropy
from charrnn.model import (ModelConfig, backward, dropout_masks, forward, init_params, views,
                           zero_state)


def reference_forward(params, cfg, inputs, targets, h0, c0):
    """Obviously-correct loss: one-hot inputs, per-step NumPy, no dropout."""
    p = views(params, cfg)
    T, B = inputs.shape
    V, H = cfg.vocab_size, cfg.hidden
    x = np.eye(V)[inputs]  # (T, B, V)
    h, c = h0.copy(), c0.copy()
    sig = lambda z: 1 / (1 + np.exp(-z))
    for l in range(cfg.layers):
        w, b = p[f"w{l}"], p[f"b{l}"]
        outs = []
        for t in range(T):
            z = np.concatenate([x[t], h[l]], axis=1) @ w + b
            i, f, o, g = sig(z[:, :H]), sig(z[:, H:2 * H]), sig(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
            c[l] = f * c[l] + i * g
            h[l] = o * np.tanh(c[l])
            outs.append(h[l].copy())
        x = np.stack(outs)
    logits = x @ p["w_y"] + p["b_y"]
    logits -= logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    loss = -np.take_along_axis(logp, targets[..., None], axis=-1).sum()
    return loss, h, c


@pytest.mark.parametrize("dtype,tol,blocks", [(np.float64, 1e-9, 1), (np.float32, 2e-4, 1),
                                              (np.float64, 1e-9, 2), (np.float32, 2e-4, 3)])
def test_forward_matches_reference(dtype, tol, blocks, rng):
    cfg = ModelConfig(vocab_size=7, hidden=5, layers=3)
    params = init_params(cfg, rng, dtype)
    inputs, targets = rng.integers(0, 7, (6, 3)), rng.integers(0, 7, (6, 3))
    h0 = rng.standard_normal((3, 3, 5)).astype(dtype)
    c0 = rng.standard_normal((3, 3, 5)).astype(dtype)
    loss, hT, cT, _ = forward(params, cfg, inputs, targets, h0, c0, blocks=blocks)
    ref_loss, ref_h, ref_c = reference_forward(params.astype(np.float64), cfg, inputs, targets,
                                               h0.astype(np.float64), c0.astype(np.float64))
    assert loss == pytest.approx(ref_loss, rel=tol)
    np.testing.assert_allclose(hT, ref_h, atol=tol)
    np.testing.assert_allclose(cT, ref_c, atol=tol)


def numeric_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = f()
        x[idx] = old - eps
        down = f()
        x[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


# blocks: the hidden units and product rows cut into blocks shared among threads
# (3 blocks of 4 units are uneven: 1, 1 and 2).
# 3 layers: backward remakes the lower layers' cells and hiddens (lstm_replay).
@pytest.mark.parametrize("layers,dropout,blocks", [(1, 0.0, 1), (2, 0.0, 1), (2, 0.4, 1),
                                                   (2, 0.4, 2), (2, 0.0, 3), (3, 0.0, 2),
                                                   (3, 0.4, 1), (4, 0.0, 1)])
def test_gradients_match_finite_differences(layers, dropout, blocks, rng):
    cfg = ModelConfig(vocab_size=5, hidden=4, layers=layers, dropout=dropout)
    params = init_params(cfg, rng, np.float64)
    params += rng.uniform(-0.5, 0.5, params.shape)  # off the initial biases: all paths active
    T, B = 4, 3
    inputs, targets = rng.integers(0, 5, (T, B)), rng.integers(0, 5, (T, B))
    h0 = rng.standard_normal((layers, B, 4))
    c0 = rng.standard_normal((layers, B, 4))

    masks = dropout_masks(cfg, rng, T, B, np.float64)
    assert (masks is None) == (dropout == 0)

    def mean_loss():
        return forward(params, cfg, inputs, targets, h0, c0, masks)[0] / (T * B)

    _, _, _, cache = forward(params, cfg, inputs, targets, h0, c0, masks, 1 / (T * B), blocks)
    grads = np.zeros_like(params)
    dh0, dc0 = backward(params, cfg, cache, grads, blocks)
    for name, analytic in views(grads, cfg).items():
        numeric = numeric_gradient(mean_loss, views(params, cfg)[name])
        np.testing.assert_allclose(analytic, numeric, atol=1e-7, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(dh0, numeric_gradient(mean_loss, h0), atol=1e-7, rtol=1e-5)
    np.testing.assert_allclose(dc0, numeric_gradient(mean_loss, c0), atol=1e-7, rtol=1e-5)


def test_state_carries_across_chunks(rng):
    """Two chunks with the state carried equal one chunk twice as long."""
    cfg = ModelConfig(vocab_size=6, hidden=8, layers=2)
    params = init_params(cfg, rng, np.float64)
    inputs, targets = rng.integers(0, 6, (10, 2)), rng.integers(0, 6, (10, 2))
    h, c = zero_state(cfg, 2, np.float64)
    whole, hT, cT, _ = forward(params, cfg, inputs, targets, h, c)
    first, h1, c1, _ = forward(params, cfg, inputs[:4], targets[:4], h, c)
    second, h2, c2, _ = forward(params, cfg, inputs[4:], targets[4:], h1, c1)
    assert first + second == pytest.approx(whole, rel=1e-12)
    np.testing.assert_allclose(h2, hT, rtol=1e-12)


def test_loss_gradient_is_softmax_minus_onehot(rng):
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    targets = np.array([0, 3, 1, 1, 2])
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected_loss = -np.log(probs[np.arange(5), targets]).sum()
    grad = logits.copy()
    loss = softmax_cross_entropy(grad, targets, 1 / 5)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(grad, (probs - np.eye(4)[targets]) / 5, atol=1e-6)
    unchanged = logits.copy()
    assert softmax_cross_entropy(unchanged, targets, 0.0) == pytest.approx(loss)
    np.testing.assert_array_equal(unchanged, logits)


def test_init_sets_forget_bias_to_one(rng):
    cfg = ModelConfig(vocab_size=3, hidden=4, layers=2)
    p = views(init_params(cfg, rng), cfg)
    for l in range(2):
        np.testing.assert_array_equal(p[f"b{l}"], [0] * 4 + [1] * 4 + [0] * 8)


@pytest.mark.parametrize("layers,blocks", [(2, 1), (3, 2)])
def test_float32_gradients_agree_with_float64(layers, blocks, rng):
    """The fast float32 kernels (approximate tanh and exp, packed tiles) against
    the exact float64 ones; 3 layers: backward remakes cells and hiddens."""
    cfg = ModelConfig(vocab_size=11, hidden=32, layers=layers)
    params64 = init_params(cfg, rng, np.float64)
    inputs, targets = rng.integers(0, 11, (20, 5)), rng.integers(0, 11, (20, 5))
    grads = {}
    for dtype in (np.float32, np.float64):
        h, c = zero_state(cfg, 5, dtype)
        _, _, _, cache = forward(params64.astype(dtype), cfg, inputs, targets, h, c,
                                 grad_scale=0.01, blocks=blocks)
        grads[dtype] = np.zeros(params64.shape, dtype)
        backward(params64.astype(dtype), cfg, cache, grads[dtype], blocks)
    scale = np.abs(grads[np.float64]).max()
    np.testing.assert_allclose(grads[np.float32], grads[np.float64], atol=1e-4 * scale)
