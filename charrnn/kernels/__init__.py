"""Shared compute kernels: Numba settings and cache (jit, cache), the gate
nonlinearities (activations), BLAS products (blas), the register-tiled
recurrent product (tiles), few-row products for generation (rows), the
embedding lookup (embedding), reusable buffers (buffers) and threads
(threads).  The cells and the model are built on these."""
from . import jit  # noqa: F401  Numba's cache directory is set before any kernel is compiled
