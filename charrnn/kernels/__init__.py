"""Shared compute kernels: Numba settings and cache (jit, cache), the gate
nonlinearities (activations), BLAS products (blas), the register-tiled
recurrent product (tiles), few-row products for generation (rows), the
embedding lookup (embedding), reusable buffers (buffers), threads
(threads) and subnormal floats flushed to zero (subnormals).  The cells and
the model are built on these."""

from . import jit  # noqa: F401  Numba's cache directory is set before any kernel is compiled
from .subnormals import flush_subnormals

flush_subnormals()  # before Numba's threads start: they inherit it
