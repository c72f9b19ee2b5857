"""Products of a few rows (1 when sampling, the beam width in beam search)
with a weight matrix packed into panels (tiles.py), for generation.

Every output column is computed the same way whichever thread computes it,
so results do not depend on the thread count.  Cutting the columns into
blocks for threads pays when a product is big enough: then each core
streams its share of weights too big for one core's cache.
"""
import numpy as np
from numba import prange

from .jit import inner_kernel, inner_parallel_kernel, kernel
from .tiles import NR, packed_product

PARALLEL_MIN = 1 << 17  # multiply-adds (rows x weights) from which blocks pay
OUTPUT_BLOCKS = 4       # blocks of panels shared among Numba's threads


@kernel
def packed_columns(n):
    """Columns of a product with n outputs: n rounded up to whole panels."""
    return -(-n // NR) * NR


def packed(w):
    """w (D, N) as float32 panels (N' / NR, D, NR) for add_product, N' = N
    rounded up to whole panels, the extra columns zero."""
    D, N = w.shape
    columns = packed_columns(N)
    padded = np.zeros((D, columns), np.float32)
    padded[:, :N] = w
    return np.ascontiguousarray(padded.reshape(D, columns // NR, NR).transpose(1, 0, 2))


@inner_kernel
def add_product(x, panels, out):
    """out (K, N) += x (K, D) @ W, W packed as panels (N / NR, D, NR)."""
    if x.shape[0] * panels.size >= PARALLEL_MIN:
        _split_outputs(x, panels, out)
    else:
        packed_product(x, panels, 0, panels.shape[0], out, True)


@inner_parallel_kernel
def _split_outputs(x, panels, out):
    P = panels.shape[0]
    for b in prange(OUTPUT_BLOCKS):
        packed_product(x, panels, P * b // OUTPUT_BLOCKS, P * (b + 1) // OUTPUT_BLOCKS, out, True)
