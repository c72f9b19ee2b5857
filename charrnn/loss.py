"""Softmax cross-entropy over vocabulary logits, fused into one pass per row."""
import math

import numpy as np

from .activations import kernel


@kernel
def softmax_cross_entropy(logits, targets, grad_scale):
    """Sum over rows of -log softmax(logits)[target].

    logits  (N, V); with grad_scale > 0, overwritten by d(grad_scale * loss)/dlogits
    targets (N,) int
    Returns the summed loss as float64 (a float32 sum over a long file drifts).
    """
    N, V = logits.shape
    total = 0.0
    for n in range(N):
        row = logits[n]
        m = row.max()
        s = 0.0
        for v in range(V):
            s += math.exp(row[v] - m)
        log_z = m + math.log(s)
        total += log_z - row[targets[n]]
        if grad_scale > 0:
            for v in range(V):
                row[v] = np.float32(math.exp(row[v] - log_z)) * grad_scale
            row[targets[n]] -= grad_scale
    return total
