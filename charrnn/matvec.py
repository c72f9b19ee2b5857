"""Products of a few vectors with a weight matrix, for generation (K = 1 or the beam width).

BLAS's GEMM is built for large matrices: for one or a few rows it spends its
time packing the weights and runs at a third of this kernel's speed here.
With the weights stored transposed, each output is a dot product over
contiguous memory; four outputs (and up to two input rows) share every load.
``reassoc`` lets the compiler vectorize the sums: the order of additions
differs from a plain loop's, always in the same way, so results stay
deterministic.
"""
import numpy as np
from numba import njit

_FAST = {"reassoc", "contract"}


@njit(cache=True, error_model="numpy", nogil=True, fastmath=_FAST)
def _dot(a, b):
    total = np.float32(0)
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@njit(cache=True, error_model="numpy", nogil=True, fastmath=_FAST)
def add_product_nt(x, w_t, out):
    """out (K, N) += x (K, D) @ w_t.T, w_t (N, D); all C-contiguous."""
    K, D = x.shape
    N = w_t.shape[0]
    for r in range(0, K - 1, 2):
        x0, x1, o0, o1 = x[r], x[r + 1], out[r], out[r + 1]
        for j in range(0, N - 3, 4):
            w0, w1, w2, w3 = w_t[j], w_t[j + 1], w_t[j + 2], w_t[j + 3]
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = np.float32(0)
            for i in range(D):
                u, v = x0[i], x1[i]
                a0 += u * w0[i]
                a1 += u * w1[i]
                a2 += u * w2[i]
                a3 += u * w3[i]
                b0 += v * w0[i]
                b1 += v * w1[i]
                b2 += v * w2[i]
                b3 += v * w3[i]
            o0[j] += a0
            o0[j + 1] += a1
            o0[j + 2] += a2
            o0[j + 3] += a3
            o1[j] += b0
            o1[j + 1] += b1
            o1[j + 2] += b2
            o1[j + 3] += b3
        for j in range(N - N % 4, N):
            o0[j] += _dot(x0, w_t[j])
            o1[j] += _dot(x1, w_t[j])
    if K % 2:
        x0, o0 = x[K - 1], out[K - 1]
        for j in range(0, N - 3, 4):
            w0, w1, w2, w3 = w_t[j], w_t[j + 1], w_t[j + 2], w_t[j + 3]
            a0 = a1 = a2 = a3 = np.float32(0)
            for i in range(D):
                u = x0[i]
                a0 += u * w0[i]
                a1 += u * w1[i]
                a2 += u * w2[i]
                a3 += u * w3[i]
            o0[j] += a0
            o0[j + 1] += a1
            o0[j + 2] += a2
            o0[j + 3] += a3
        for j in range(N - N % 4, N):
            o0[j] += _dot(x0, w_t[j])
