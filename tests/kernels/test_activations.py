import numpy as np

from charrnn.kernels.activations import exp, sigmoid, tanh
from charrnn.kernels.jit import kernel


@kernel
def _apply(x, out_tanh, out_sigmoid):
    for i in range(x.size):
        out_tanh[i] = tanh(x[i])
        out_sigmoid[i] = sigmoid(x[i])


def test_float32_tanh_and_sigmoid_are_within_a_few_ulp():
    x = np.concatenate([np.linspace(-20, 20, 400_001), [0.0, 1e-30, -1e-8]]).astype(np.float32)
    t, s = np.empty_like(x), np.empty_like(x)
    _apply(x, t, s)
    exact_t = np.tanh(x.astype(np.float64))
    exact_s = 1 / (1 + np.exp(-x.astype(np.float64)))
    ulp = np.spacing(np.float32(1.0))
    assert np.abs(t - exact_t).max() < 8 * ulp
    assert np.abs(s - exact_s).max() < 8 * ulp
    assert np.all(np.abs(t) <= 1) and np.all((s >= 0) & (s <= 1))


def test_float64_is_exact():
    x = np.linspace(-5, 5, 1001)
    t, s = np.empty_like(x), np.empty_like(x)
    _apply(x, t, s)
    np.testing.assert_allclose(t, np.tanh(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-x)), rtol=0, atol=1e-15)


@kernel
def _exp(x, out):
    for i in range(x.size):
        out[i] = exp(x[i])


def test_float32_exp_is_within_two_ulp_and_saturates():
    x = np.concatenate([np.linspace(-87, 88, 1_000_001), [0.0, -1e-30, 1e-7]]).astype(np.float32)
    out = np.empty_like(x)
    _exp(x, out)
    exact = np.exp(x.astype(np.float64))
    assert (np.abs(out - exact) / exact).max() < 2 * np.spacing(np.float32(1.0))
    assert out[-3] == 1.0
    low = np.array([-87.5, -100.0, -np.inf], np.float32)
    _exp(low, low)  # below float32's normal range: the smallest normal, never 0 or NaN
    assert np.all((low > 0) & (low < 1.2e-38))
    high = np.array([88.5, np.inf, np.nan], np.float32)
    _exp(high, high)
    assert high[0] == high[1] == np.float32(np.exp(np.float64(88.0)))  # saturated, finite
    assert np.isnan(high[2])


def test_float64_exp_is_exact():
    x = np.linspace(-50, 50, 1001)
    out = np.empty_like(x)
    _exp(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-15)
