"""Matrix products that Numba kernels can call, without SciPy.

Numba's own ``np.dot`` reaches BLAS through SciPy.  Instead we find the
OpenBLAS that NumPy itself ships and has loaded, and register its ``sgemm``
and ``dgemm`` under fixed symbol names that the compiled kernels call.
Because kernels refer to the symbols by name, not by address, they stay
cacheable on disk (``cache=True``).  Where NumPy carries no OpenBLAS (e.g.
Accelerate builds on macOS) a compiled portable loop stands in under the same
names: slower, same results.  float64 exists for the gradient checks.
"""

import ctypes
import glob
import os

import llvmlite.binding as llvm
import numpy as np
from numba import carray, cfunc, prange, types
from numba.extending import overload

from .jit import CACHED, inline, kernel, parallel_kernel

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
TRANSPOSED, AS_IS = True, False  # an operand of a product, by its transpose or as it is


def _signature(real):
    # cblas_?gemm(order, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
    # with 64-bit integers: the ILP64 interface of NumPy's scipy-openblas.
    i, p = types.int64, types.CPointer(real)
    return types.void(i, i, i, i, i, i, real, p, i, p, i, real, p, i)


SIGNATURES = {"s": _signature(types.float32), "d": _signature(types.float64)}
_external = {
    kind: types.ExternalFunction(f"charrnn_cblas_{kind}gemm", sig)
    for kind, sig in SIGNATURES.items()
}


@kernel
def _portable_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    A = carray(a, (k if trans_a == TRANS else m, lda))
    B = carray(b, (n if trans_b == TRANS else k, ldb))
    C = carray(c, (m, ldc))
    acc = np.zeros(n, dtype=C.dtype)
    for i in range(m):
        acc[:] = 0.0
        for p in range(k):
            a_ip = A[p, i] if trans_a == TRANS else A[i, p]
            for j in range(n):
                acc[j] += a_ip * (B[j, p] if trans_b == TRANS else B[p, j])
        for j in range(n):
            C[i, j] = alpha * acc[j] + (beta * C[i, j] if beta != 0 else 0)


@cfunc(SIGNATURES["s"], cache=CACHED)
def portable_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Row-major C = alpha op(A) op(B) + beta C, for machines without OpenBLAS."""
    _portable_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


@cfunc(SIGNATURES["d"], cache=CACHED)
def portable_dgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    _portable_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


def _find_numpy_openblas():
    """The OpenBLAS shared library that NumPy loaded, or None."""
    numpy_dir = os.path.dirname(np.__file__)
    for pattern in (
        os.path.join(numpy_dir, os.pardir, "numpy.libs", "*openblas*"),
        os.path.join(numpy_dir, ".dylibs", "*openblas*"),
    ):
        for path in sorted(glob.glob(pattern)):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            if hasattr(lib, "scipy_cblas_sgemm64_"):
                return lib
    return None


_openblas = _find_numpy_openblas()
if _openblas is not None:
    BACKEND = "openblas"
    for kind in "sd":
        address = ctypes.cast(getattr(_openblas, f"scipy_cblas_{kind}gemm64_"), ctypes.c_void_p)
        llvm.add_symbol(f"charrnn_cblas_{kind}gemm", address.value)
else:
    BACKEND = "portable"
    llvm.add_symbol("charrnn_cblas_sgemm", portable_sgemm.address)
    llvm.add_symbol("charrnn_cblas_dgemm", portable_dgemm.address)


def set_threads(n):
    """Use n BLAS threads (NumPy's products and the kernels' share one library)."""
    if _openblas is not None:
        _openblas.scipy_openblas_set_num_threads64_(ctypes.c_int(n))


def _xgemm(a, b, c, trans_a, trans_b, alpha, beta):
    raise NotImplementedError("only callable from compiled code")


@overload(_xgemm)
def _xgemm_typed(a, b, c, trans_a, trans_b, alpha, beta):
    # Choose sgemm or dgemm by the arrays' dtype when the caller is compiled.
    real = c.dtype
    external = _external["s" if real == types.float32 else "d"]

    def impl(a, b, c, trans_a, trans_b, alpha, beta):
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        if m == 0 or n == 0:
            return
        external(
            ROW_MAJOR,
            TRANS if trans_a else NO_TRANS,
            TRANS if trans_b else NO_TRANS,
            m,
            n,
            k,
            real(alpha),
            a.ctypes,
            _leading(a),
            b.ctypes,
            _leading(b),
            real(beta),
            c.ctypes,
            _leading(c),
        )

    return impl


@inline
def _leading(x):
    """Row stride in elements: rows may be longer than the view (a slice of columns)."""
    return max(x.strides[0] // x.itemsize, x.shape[1], 1)


@kernel
def gemm(a, b, c, trans_a=False, trans_b=False, alpha=1.0, beta=0.0):
    """c = alpha * op(a) @ op(b) + beta * c for 2-D arrays of one dtype whose rows
    are contiguous (C-contiguous arrays, or column slices of them)."""
    _xgemm(a, b, c, trans_a, trans_b, alpha, beta)


@parallel_kernel
def split_gemm(a, b, c, trans_a, trans_b, beta, blocks):
    """c = op(a) @ op(b) + beta * c, the rows of c cut into ``blocks`` parts
    computed side by side by Numba's threads, each with single-threaded BLAS.
    Each block always gets the same rows, so results are deterministic for a
    given ``blocks``; between block counts they may differ in the last bit
    (BLAS picks its kernels by shape)."""
    m = c.shape[0]
    for s in prange(blocks):
        lo, hi = block_bounds(s, blocks, m)
        _rows(a, b, c, trans_a, trans_b, beta, lo, hi)


@parallel_kernel
def split_gemm_two(a1, b1, c1, trans_a1, trans_b1, a2, b2, c2, trans_a2, trans_b2, blocks):
    """c1 = op(a1) @ op(b1) and c2 = op(a2) @ op(b2), two independent products
    in one parallel pass.  With an even number of blocks, half of them make
    each product, cutting its rows: two products that share an operand
    (two weight gradients from one gate gradient) then read it once per
    thread, not twice (at 2x128: 2.8 against 3.7 ms per product), and two
    small ones wait for the threads once.  With an odd number, every block
    makes its rows of both."""
    if blocks % 2 == 1:
        for s in prange(blocks):
            lo, hi = block_bounds(s, blocks, c1.shape[0])
            _rows(a1, b1, c1, trans_a1, trans_b1, 0.0, lo, hi)
            lo, hi = block_bounds(s, blocks, c2.shape[0])
            _rows(a2, b2, c2, trans_a2, trans_b2, 0.0, lo, hi)
        return
    half = blocks // 2
    for s in prange(blocks):
        if s < half:
            lo, hi = block_bounds(s, half, c1.shape[0])
            _rows(a1, b1, c1, trans_a1, trans_b1, 0.0, lo, hi)
        else:
            lo, hi = block_bounds(s - half, half, c2.shape[0])
            _rows(a2, b2, c2, trans_a2, trans_b2, 0.0, lo, hi)


@inline
def _rows(a, b, c, trans_a, trans_b, beta, lo, hi):
    """Rows lo..hi-1 of c = op(a) @ op(b) + beta * c."""
    if trans_a:
        gemm(a[:, lo:hi], b, c[lo:hi], TRANSPOSED, trans_b, 1.0, beta)
    else:
        gemm(a[lo:hi], b, c[lo:hi], AS_IS, trans_b, 1.0, beta)


@inline
def block_bounds(s, blocks, n):
    """[lo, hi) of part s of range(n) cut into ``blocks`` near-equal parts."""
    return n * s // blocks, n * (s + 1) // blocks
