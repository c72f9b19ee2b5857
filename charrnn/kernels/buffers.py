"""Buffers reused from chunk to chunk, aligned to cache lines."""

import contextlib

import numpy as np

CACHE_LINE = 64


def aligned_empty(shape, dtype):
    """np.empty starting on a cache line.  Threads write neighbouring blocks
    of the same rows; where a block edge falls inside a cache line, the two
    cores fight over it at every step (at 2x128: 1.5x slower recurrence)."""
    size, itemsize = int(np.prod(shape)), np.dtype(dtype).itemsize
    raw = np.empty(size + CACHE_LINE // itemsize, dtype)
    start = (-raw.ctypes.data % CACHE_LINE) // itemsize
    return raw[start : start + size].reshape(shape)


def layer_buffer(name, l, keep):
    """The name of layer l's buffer ``name``: its own when backward will
    read it (keep), else layer 0's, which every layer of a forward-only
    pass (validation, eval) uses in turn: the gates of a chunk are then kept
    for one layer, not all of them, in the buffers training already has."""
    return f"{name}{l if keep else 0}"


class Workspace:
    """Named buffers reused from chunk to chunk.  Fresh arrays every chunk
    would be fresh pages, and the page faults of their first touch cost a
    small model a tenth of its step (measured at 2x128).  The model and the
    cells keep what backward needs from forward here, under names of their
    own (a layer's buffers carry its index).  ``precision``: of the matrix
    products made with these buffers, "float32" or "bfloat16" (products.py)."""

    def __init__(self, precision="float32"):
        self._buffers = {}
        self.precision = precision

    def take(self, name, shape, dtype):
        """The buffer called ``name``, as an array of this shape: uninitialized
        when first taken or grown, else what was last written there."""
        size = int(np.prod(shape))
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._buffers[name] = aligned_empty(size, dtype)
        return buffer[:size].reshape(shape)

    @contextlib.contextmanager
    def products_in(self, precision):
        """Within: the products made with these buffers in ``precision``."""
        before, self.precision = self.precision, precision
        try:
            yield self
        finally:
            self.precision = before

    def nbytes(self):
        return sum(buffer.nbytes for buffer in self._buffers.values())

    def names(self):
        return set(self._buffers)
