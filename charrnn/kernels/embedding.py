"""The product of one-hot characters with a weight matrix, as a row lookup."""

import numpy as np
from numba import prange

from .jit import parallel_kernel
from .tiles import unit_bounds


@parallel_kernel
def embedding_forward(out, table, ids):
    """out[t, b] = table[ids[t, b]]: out (T, B, G), table (V, G), ids (T, B)."""
    T, B, G = out.shape
    for t in prange(T):
        for b in range(B):
            out[t, b] = table[ids[t, b]]


@parallel_kernel
def embedding_backward(dtable, dout, ids, blocks):
    """dtable[v] = sum of dout[t, b] over the positions where ids[t, b] == v.
    Each thread sums a block of columns in a buffer of its own (dtable may
    share cache lines across block edges) and copies it in once."""
    T, B, G = dout.shape
    for s in prange(blocks):
        lo, hi = unit_bounds(s, blocks, G)
        part = np.zeros((dtable.shape[0], hi - lo), dtable.dtype)
        for t in range(T):
            for b in range(B):
                row, d = part[ids[t, b]], dout[t, b, lo:hi]
                for j in range(hi - lo):
                    row[j] += d[j]
        dtable[:, lo:hi] = part
