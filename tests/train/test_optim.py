import numpy as np
import pytest

from charrnn import optim


def reference_step(name, p, g, state, lr, step, weight_decay=0.0):
    """Textbook updates (the formulas of ../shared/reference), one array at a
    time; Adam's weight decay as AdamW's (Loshchilov and Hutter)."""
    if name == "adam":
        state["m"] = 0.9 * state["m"] + 0.1 * g
        state["v"] = 0.999 * state["v"] + 0.001 * g * g
        m_hat = state["m"] / (1 - 0.9**step)
        v_hat = state["v"] / (1 - 0.999**step)
        p = p - lr * weight_decay * p
        return p - lr * m_hat / (np.sqrt(v_hat) + 1e-8 / np.sqrt(1 - 0.999**step))
    if name == "rmsprop":
        state["mean_square"] = 0.95 * state["mean_square"] + 0.05 * g * g
        return p - lr * g / (np.sqrt(state["mean_square"]) + 1e-8)
    if name == "adagrad":
        state["sum_square"] = state["sum_square"] + g * g
        return p - lr * g / (np.sqrt(state["sum_square"]) + 1e-8)
    state["velocity"] = 0.9 * state["velocity"] - lr * g
    return p + state["velocity"]


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_updates_match_textbook(name, rng):
    p = rng.standard_normal(50)
    ref_p, ref_state = p.copy(), optim.init_state(name, 50, np.float64)
    state = optim.init_state(name, 50, np.float64)
    for step in range(1, 6):
        g = rng.standard_normal(50)
        optim.update(name, p, g, state, 0.01, step, scale=0.5)
        ref_p = reference_step(name, ref_p, 0.5 * g, ref_state, 0.01, step)
        np.testing.assert_allclose(p, ref_p, rtol=1e-10, atol=1e-12)


def test_adam_weight_decay_matches_adamw(rng):
    p = rng.standard_normal(50)
    ref_p, ref_state = p.copy(), optim.init_state("adam", 50, np.float64)
    state = optim.init_state("adam", 50, np.float64)
    for step in range(1, 6):
        g = rng.standard_normal(50)
        optim.update("adam", p, g, state, 0.01, step, scale=0.5, weight_decay=0.1)
        ref_p = reference_step("adam", ref_p, 0.5 * g, ref_state, 0.01, step, weight_decay=0.1)
        np.testing.assert_allclose(p, ref_p, rtol=1e-10, atol=1e-12)


def test_clip_scale():
    g = np.array([3.0, 4.0], np.float32)
    assert optim.clip_scale(g, 10.0) == (5.0, 1.0)
    norm, scale = optim.clip_scale(g, 1.0)
    assert norm == 5.0 and scale == pytest.approx(0.2)
    assert optim.clip_scale(g, 0.0) == (5.0, 1.0)  # 0: no clipping


def test_optimizers_descend_a_quadratic():
    for name in optim.OPTIMIZERS:
        p = np.full(10, 3.0)
        state = optim.init_state(name, 10, np.float64)
        for step in range(1, 201):
            optim.update(name, p, 2 * p, state, 0.05 if name != "adagrad" else 0.5, step)
        assert np.abs(p).max() < 0.5, name
