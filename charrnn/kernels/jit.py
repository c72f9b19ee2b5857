"""Numba settings for every compiled kernel of charrnn, in one place.

``error_model="numpy"`` drops the division-by-zero check that blocks
vectorization; ``nogil``: kernels run side by side in threads (threads.py);
``cache=True``: compiled code is kept on disk, in a directory that cache.py
keys by the kernels' sources, so an edited kernel is never served stale;
every compile that Numba starts is told to compile_notice.py.
"""

import functools

from numba import njit
from numba.core import event

from .. import compile_notice
from . import cache

# Before any kernel below or in another module is decorated.  With no
# writable directory at all, kernels compile in every process instead.
CACHED = cache.configure() is not None

kernel = functools.partial(njit, cache=CACHED, error_model="numpy", nogil=True)
# Kernels that share their work among Numba's threads with prange.
parallel_kernel = functools.partial(kernel, parallel=True)
# Kernels called by other kernels on the way to a prange kernel: compiled in
# every process that compiles one of their callers, never loaded from the
# cache.  A caller compiled in a process where such a callee came from the
# cache is saved without the callee's threaded part (Numba keeps a parallel
# loop's code in a library of its own, which the callee's cached IR only
# names), and crashes when a later process loads it; compiled together, the
# caller is saved whole.  The functions that Python calls stay cached, so
# this costs compile time only when one of them compiles for new types
# (tests/model/test_generation.py: test_generation_from_the_cache_of_other_model_shapes).
inner_kernel = functools.partial(njit, cache=False, error_model="numpy", nogil=True)
inner_parallel_kernel = functools.partial(inner_kernel, parallel=True)
# Small helpers compiled into their callers.
inline = functools.partial(njit, inline="always")


class CompileNotice(event.Listener):
    """Numba's start of every compile (a kernel loaded from the cache is
    none), passed on to compile_notice: a line before the wait."""

    def on_start(self, started):
        compile_notice.compiling()

    def on_end(self, ended):
        pass


event.register("numba:compile", CompileNotice())
