import ctypes

import numpy as np
import pytest

from charrnn.kernels.blas import (
    NO_TRANS,
    ROW_MAJOR,
    TRANS,
    gemm,
    portable_dgemm,
    portable_sgemm,
    split_gemm_two,
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_numpy(dtype, trans_a, trans_b, rng):
    m, n, k = 7, 11, 5
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    expected = 0.5 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + 2.0 * c
    gemm(a, b, c, trans_a, trans_b, 0.5, 2.0)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "fn,dtype,ctype",
    [(portable_sgemm, np.float32, ctypes.c_float), (portable_dgemm, np.float64, ctypes.c_double)],
)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_portable_fallback_matches_numpy(fn, dtype, ctype, trans_a, trans_b, rng):
    m, n, k = 4, 6, 3
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    expected = 1.5 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) - c
    ptr = ctypes.POINTER(ctype)
    fn.ctypes(
        ROW_MAJOR,
        TRANS if trans_a else NO_TRANS,
        TRANS if trans_b else NO_TRANS,
        m,
        n,
        k,
        1.5,
        a.ctypes.data_as(ptr),
        a.shape[1],
        b.ctypes.data_as(ptr),
        b.shape[1],
        -1.0,
        c.ctypes.data_as(ptr),
        n,
    )
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("blocks,m2", [(1, 5), (2, 5), (3, 5), (4, 5), (4, 1), (5, 2)])
def test_split_gemm_two_makes_both_products(dtype, blocks, m2, rng):
    n, m1, k = 40, 9, 13
    a1, a2 = rng.standard_normal((n, m1)).astype(dtype), rng.standard_normal((n, m2)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype)
    c1, c2 = np.full((m1, k), np.nan, dtype), np.full((m2, k), np.nan, dtype)
    split_gemm_two(a1, b, c1, True, False, a2, b, c2, True, False, blocks)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c1, a1.T.astype(np.float64) @ b, rtol=tol, atol=tol)
    np.testing.assert_allclose(c2, a2.T.astype(np.float64) @ b, rtol=tol, atol=tol)


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_split_gemm_two_takes_each_products_transpositions(blocks, rng):
    """The decoder's backward: dW_y = x.T @ d and dx = d @ W_y.T in one pass."""
    n, h, v = 30, 6, 7
    x, d, w = rng.standard_normal((n, h)), rng.standard_normal((n, v)), rng.standard_normal((h, v))
    dw, dx = np.full((h, v), np.nan), np.full((n, h), np.nan)
    split_gemm_two(x, d, dw, True, False, d, w, dx, False, True, blocks)
    np.testing.assert_allclose(dw, x.T @ d, rtol=1e-12)
    np.testing.assert_allclose(dx, d @ w.T, rtol=1e-12)
