import numpy as np

from charrnn.activations import kernel, sigmoid, tanh


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
