"""Products of a few vectors with a weight matrix, for generation (K = 1 or the beam width).

BLAS's GEMM is built for large matrices: for one or a few rows it spends its
time packing the weights and runs at a third of this kernel's speed here.
With the weights stored transposed, each output is a dot product over
contiguous memory: one row computes four outputs per pass over the weights,
and up to eight rows (a beam) two outputs per pass, each weight loaded once
for all of them.
``reassoc`` lets the compiler vectorize the sums: the order of additions
differs from a plain loop's, always in the same way, so results stay
deterministic.
"""
import numpy as np
from numba import njit, prange

_FAST = {"reassoc", "contract"}
# Weights (elements) from which cutting the outputs into blocks for threads
# pays: each core then streams its share of a matrix too big for its cache
# (2.5x at 512 x 2048 on two cores; small matrices are slower in parallel).
PARALLEL_MIN = 1 << 18
OUTPUT_BLOCKS = 4  # blocks of outputs shared out among the threads (Numba's, one per CPU)


@njit(cache=True, error_model="numpy", nogil=True, fastmath=_FAST)
def _dot(a, b):
    total = np.float32(0)
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@njit(cache=True, error_model="numpy", nogil=True)
def add_product_nt(x, w_t, out):
    """out (K, N) += x (K, D) @ w_t.T, w_t (N, D); all C-contiguous.

    Big matrices are cut into a fixed number of output blocks shared among
    Numba's threads, so results do not depend on the thread count."""
    if w_t.size >= PARALLEL_MIN:
        _split_outputs(x, w_t, out)
    else:
        _rows(x, w_t, out)


@njit(cache=True, error_model="numpy", nogil=True, parallel=True)
def _split_outputs(x, w_t, out):
    N = w_t.shape[0]
    size = (N + OUTPUT_BLOCKS - 1) // OUTPUT_BLOCKS
    for b in prange(OUTPUT_BLOCKS):
        lo, hi = b * size, min(N, (b + 1) * size)
        if lo < hi:
            _rows(x, w_t[lo:hi], out[:, lo:hi])


@njit(cache=True, error_model="numpy", nogil=True)
def _rows(x, w_t, out):
    K, D = x.shape
    if K == 1:
        _one_row(x[0], w_t, out[0])
        return
    x8 = np.zeros((8, D), x.dtype)
    out8 = np.empty((8, out.shape[1]), out.dtype)
    for r0 in range(0, K, 8):  # rows in groups of eight, the last padded with zeros
        n = min(8, K - r0)
        x8[:n] = x[r0:r0 + n]
        x8[n:] = 0
        out8[:] = 0
        _eight_rows(x8, w_t, out8)
        out[r0:r0 + n] += out8[:n]


@njit(cache=True, error_model="numpy", nogil=True, fastmath=_FAST)
def _one_row(x, w_t, out):
    """out (N,) += w_t (N, D) @ x (D,), four outputs per pass."""
    D = x.shape[0]
    N = w_t.shape[0]
    for j in range(0, N - 3, 4):
        w0, w1, w2, w3 = w_t[j], w_t[j + 1], w_t[j + 2], w_t[j + 3]
        a0 = a1 = a2 = a3 = np.float32(0)
        for i in range(D):
            u = x[i]
            a0 += u * w0[i]
            a1 += u * w1[i]
            a2 += u * w2[i]
            a3 += u * w3[i]
        out[j] += a0
        out[j + 1] += a1
        out[j + 2] += a2
        out[j + 3] += a3
    for j in range(N - N % 4, N):
        out[j] += _dot(x, w_t[j])


@njit(cache=True, error_model="numpy", nogil=True, fastmath=_FAST)
def _eight_rows(x, w_t, out):
    """out (8, N) += x (8, D) @ w_t.T: all eight rows share each pass over the weights."""
    D = x.shape[1]
    N = w_t.shape[0]
    x0, x1, x2, x3, x4, x5, x6, x7 = x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
    for j in range(0, N - 1, 2):
        w0, w1 = w_t[j], w_t[j + 1]
        a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = a60 = a61 = a70 = a71 = np.float32(0)
        for i in range(D):
            v0, v1 = w0[i], w1[i]
            a00 += x0[i] * v0
            a01 += x0[i] * v1
            a10 += x1[i] * v0
            a11 += x1[i] * v1
            a20 += x2[i] * v0
            a21 += x2[i] * v1
            a30 += x3[i] * v0
            a31 += x3[i] * v1
            a40 += x4[i] * v0
            a41 += x4[i] * v1
            a50 += x5[i] * v0
            a51 += x5[i] * v1
            a60 += x6[i] * v0
            a61 += x6[i] * v1
            a70 += x7[i] * v0
            a71 += x7[i] * v1
        out[0, j] += a00
        out[0, j + 1] += a01
        out[1, j] += a10
        out[1, j + 1] += a11
        out[2, j] += a20
        out[2, j + 1] += a21
        out[3, j] += a30
        out[3, j + 1] += a31
        out[4, j] += a40
        out[4, j + 1] += a41
        out[5, j] += a50
        out[5, j + 1] += a51
        out[6, j] += a60
        out[6, j + 1] += a61
        out[7, j] += a70
        out[7, j + 1] += a71
    if N % 2:
        for r in range(8):
            out[r, N - 1] += _dot(x[r], w_t[N - 1])
