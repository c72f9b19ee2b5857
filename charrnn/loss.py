"""Softmax cross-entropy over vocabulary logits, in one compiled kernel: each
row's exponentials are made once and serve both the loss and the gradient."""

import math

import numpy as np

from numba import prange

from .kernels.activations import exp
from .kernels.blas import block_bounds
from .kernels.jit import kernel, parallel_kernel


ROW_BLOCKS = 8  # rows are cut into this many blocks for threads, whatever their number


@parallel_kernel
def softmax_cross_entropy(logits, targets, grad_scale):
    """Sum over rows of -log softmax(logits)[target].

    logits  (N, V); with grad_scale > 0, overwritten by d(grad_scale * loss)/dlogits
    targets (N,) int
    Returns the summed loss as float64 (a float32 sum over a long file drifts),
    added up in a fixed order of fixed row blocks: the same for any thread count.
    """
    N = logits.shape[0]
    partial = np.zeros(ROW_BLOCKS)
    for s in prange(ROW_BLOCKS):
        lo, hi = block_bounds(s, ROW_BLOCKS, N)
        partial[s] = _rows(logits[lo:hi], targets[lo:hi], grad_scale)
    total = 0.0
    for s in range(ROW_BLOCKS):
        total += partial[s]
    return total


@kernel
def _rows(logits, targets, grad_scale):
    N, V = logits.shape
    total = 0.0
    e = np.empty(V, logits.dtype)  # exp(logit - max): made once, used for the sum and the gradient
    for n in range(N):
        row = logits[n]
        m = row.max()
        for v in range(V):
            e[v] = exp(row[v] - m)
        s = 0.0
        for v in range(V):
            s += e[v]
        total += m + math.log(s) - row[targets[n]]
        if grad_scale > 0:
            scale = grad_scale / s
            for v in range(V):
                row[v] = e[v] * scale
            row[targets[n]] -= grad_scale
    return total
