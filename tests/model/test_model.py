"""The model, for every cell, against a slow NumPy reference written from the
equations (reference.py) and against finite differences (float64)."""

import numpy as np
import pytest
from reference import reference_forward

from charrnn import cells
from charrnn.loss import softmax_cross_entropy
from charrnn.model import (
    ModelConfig,
    backward,
    dropout_masks,
    forward,
    init_params,
    views,
    zero_state,
)

CELLS = list(cells.CELLS)


def random_state(cfg, B, rng, dtype):
    return zero_state(cfg, B, dtype) + rng.standard_normal(zero_state(cfg, B).shape).astype(dtype)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    "dtype,tol,blocks",
    [(np.float64, 1e-9, 1), (np.float32, 2e-4, 1), (np.float64, 1e-9, 2), (np.float32, 2e-4, 3)],
)
def test_forward_matches_reference(cell, dtype, tol, blocks, rng):
    cfg = ModelConfig(vocab_size=7, hidden=5, layers=3, cell=cell)
    params = init_params(cfg, rng, dtype)
    params += rng.uniform(-0.5, 0.5, params.shape).astype(dtype)  # every path active
    inputs, targets = rng.integers(0, 7, (6, 3)), rng.integers(0, 7, (6, 3))
    state0 = random_state(cfg, 3, rng, dtype)
    loss, state, _ = forward(params, cfg, inputs, targets, state0, blocks=blocks)
    ref_loss, ref_state = reference_forward(params, cfg, inputs, targets, state0)
    assert loss == pytest.approx(ref_loss, rel=tol)
    np.testing.assert_allclose(state, ref_state, atol=tol)


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
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    "layers,dropout,blocks",
    [
        (1, 0.0, 1),
        (2, 0.0, 1),
        (2, 0.4, 1),
        (2, 0.4, 2),
        (2, 0.0, 3),
        (3, 0.0, 2),
        (3, 0.4, 1),
        (4, 0.0, 1),
    ],
)
def test_gradients_match_finite_differences(cell, layers, dropout, blocks, rng):
    cfg = ModelConfig(vocab_size=5, hidden=4, layers=layers, dropout=dropout, cell=cell)
    params = init_params(cfg, rng, np.float64)
    params += rng.uniform(-0.5, 0.5, params.shape)  # off the initial biases: all paths active
    T, B = 4, 3
    inputs, targets = rng.integers(0, 5, (T, B)), rng.integers(0, 5, (T, B))
    state0 = random_state(cfg, B, rng, np.float64)

    masks = dropout_masks(cfg, rng, T, B, np.float64)
    assert (masks is None) == (dropout == 0)

    def mean_loss():
        return forward(params, cfg, inputs, targets, state0, masks)[0] / (T * B)

    _, _, cache = forward(params, cfg, inputs, targets, state0, masks, 1 / (T * B), blocks)
    grads = np.zeros_like(params)
    dstate0 = backward(params, cfg, cache, grads, blocks)
    for name, analytic in views(grads, cfg).items():
        numeric = numeric_gradient(mean_loss, views(params, cfg)[name])
        np.testing.assert_allclose(analytic, numeric, atol=1e-7, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(dstate0, numeric_gradient(mean_loss, state0), atol=1e-7, rtol=1e-5)


def test_variational_masks_are_shared_across_time(rng):
    cfg = ModelConfig(vocab_size=5, hidden=400, layers=2, dropout=0.3)
    shared = dropout_masks(cfg, rng, 6, 8, shared=True)
    fresh = dropout_masks(cfg, rng, 6, 8)
    assert shared.shape == fresh.shape == (2, 6, 8, 400) and shared.flags.c_contiguous
    assert (shared == shared[:, :1]).all() and not (fresh == fresh[:, :1]).all()
    for masks in (shared, fresh):  # inverted dropout: 0 or 1/keep, kept 70% of the time
        assert set(np.unique(masks)) == {0.0, np.float32(1 / 0.7)}
        assert (masks > 0).mean() == pytest.approx(0.7, abs=0.02)


@pytest.mark.parametrize("cell", CELLS)
def test_state_carries_across_chunks(cell, rng):
    """Two chunks with the state carried equal one chunk twice as long."""
    cfg = ModelConfig(vocab_size=6, hidden=8, layers=2, cell=cell)
    params = init_params(cfg, rng, np.float64)
    inputs, targets = rng.integers(0, 6, (10, 2)), rng.integers(0, 6, (10, 2))
    state = zero_state(cfg, 2, np.float64)
    whole, final, _ = forward(params, cfg, inputs, targets, state)
    first, middle, _ = forward(params, cfg, inputs[:4], targets[:4], state)
    second, end, _ = forward(params, cfg, inputs[4:], targets[4:], middle)
    assert first + second == pytest.approx(whole, rel=1e-12)
    np.testing.assert_allclose(end, final, rtol=1e-12)


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


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers,blocks", [(2, 1), (3, 2)])
def test_float32_gradients_agree_with_float64(cell, layers, blocks, rng):
    """The fast float32 kernels (approximate tanh and exp, packed tiles) against
    the exact float64 ones; 3 layers: backward remakes cells and hiddens."""
    cfg = ModelConfig(vocab_size=11, hidden=32, layers=layers, cell=cell)
    params64 = init_params(cfg, rng, np.float64)
    inputs, targets = rng.integers(0, 11, (20, 5)), rng.integers(0, 11, (20, 5))
    grads = {}
    for dtype in (np.float32, np.float64):
        state = zero_state(cfg, 5, dtype)
        _, _, cache = forward(
            params64.astype(dtype), cfg, inputs, targets, state, grad_scale=0.01, blocks=blocks
        )
        grads[dtype] = np.zeros(params64.shape, dtype)
        backward(params64.astype(dtype), cfg, cache, grads[dtype], blocks)
    scale = np.abs(grads[np.float64]).max()
    np.testing.assert_allclose(grads[np.float32], grads[np.float64], atol=1e-4 * scale)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("B", [3, 8])  # 2 threads: split by units (3 streams), by streams (8)
def test_float32_at_a_realistic_size_agrees_with_float64(cell, B, rng):
    """H = 128: every product of the float32 path runs on the packed tiles,
    against float64 (BLAS, exact math), in both ways threads share the work."""
    cfg = ModelConfig(vocab_size=13, hidden=128, layers=2, dropout=0.2, cell=cell)
    params64 = init_params(cfg, rng, np.float64)
    inputs, targets = rng.integers(0, 13, (10, B)), rng.integers(0, 13, (10, B))
    masks = dropout_masks(cfg, rng, 10, B, np.float64)
    state0 = random_state(cfg, B, rng, np.float64) * 0.5
    out = {}
    for dtype in (np.float32, np.float64):
        _, final, cache = forward(
            params64.astype(dtype),
            cfg,
            inputs,
            targets,
            state0.astype(dtype),
            masks.astype(dtype),
            0.01,
            2,
        )
        grads = np.zeros(params64.shape, dtype)
        dstate0 = backward(params64.astype(dtype), cfg, cache, grads, 2)
        out[dtype] = final, grads, dstate0
    for got, want in zip(out[np.float32], out[np.float64]):
        np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())


@pytest.mark.parametrize("cell", CELLS)
def test_forward_hands_back_every_steps_state(cell, rng):
    """on_layer sees each layer's state after every step (what a
    visualisation colours): step t's equals the final state of a chunk of t steps."""
    cfg = ModelConfig(vocab_size=6, hidden=8, layers=2, cell=cell)
    params = init_params(cfg, rng, np.float64)
    inputs = rng.integers(0, 6, (5, 2))
    state0 = random_state(cfg, 2, rng, np.float64)
    seen = {}
    forward(
        params,
        cfg,
        inputs,
        inputs,
        state0,
        on_layer=lambda l, seqs: seen.__setitem__(l, np.stack(seqs).copy()),
    )
    assert sorted(seen) == [0, 1] and seen[0].shape == (len(state0[0]), 6, 2, 8)
    for t in range(6):
        after = forward(params, cfg, inputs[:t], inputs[:t], state0)[1] if t else state0
        for l in range(2):
            np.testing.assert_allclose(seen[l][:, t], after[l], rtol=1e-12, atol=1e-12)
