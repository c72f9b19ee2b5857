"""Numba settings for every compiled kernel of charrnn, in one place.

``error_model="numpy"`` drops the division-by-zero check that blocks
vectorization; ``nogil``: kernels run side by side in threads (threads.py);
``cache=True``: compiled code is kept on disk, in a directory that cache.py
keys by the kernels' sources, so an edited kernel is never served stale.
"""
import functools

from numba import njit

from . import cache

# Before any kernel below or in another module is decorated.  With no
# writable directory at all, kernels compile in every process instead.
CACHED = cache.configure() is not None

kernel = functools.partial(njit, cache=CACHED, error_model="numpy", nogil=True)
# Kernels that share their work among Numba's threads with prange.
parallel_kernel = functools.partial(kernel, parallel=True)
# Small helpers compiled into their callers.
inline = functools.partial(njit, inline="always")
