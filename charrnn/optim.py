"""Optimizers over the flat parameter buffer, and global gradient-norm clipping.

Each update is one fused kernel over the whole buffer, its elements shared
among the threads; ``scale`` folds the clipping factor into the same pass.
Every element's update is independent, and the norm is summed in CHUNKS
fixed parts, so results do not depend on the thread count.
"""

import math

import numpy as np

from numba import prange

from .kernels.blas import block_bounds
from .kernels.jit import parallel_kernel
from .optimizers import OPTIMIZERS

# Each optimizer's state arrays, by name (training's estimate of a checkpoint's size).
STATE_NAMES = {name: optimizer.state for name, optimizer in OPTIMIZERS.items()}
BETA1, BETA2, ALPHA, MOMENTUM, EPS = 0.9, 0.999, 0.95, 0.9, 1e-8
CHUNKS = 8


def init_state(name, n, dtype=np.float32):
    """Optimizer state: named arrays the size of the parameter buffer."""
    return {key: np.zeros(n, dtype) for key in OPTIMIZERS[name].state}


def clip_scale(grads, max_norm):
    """(global gradient norm, factor that brings it down to max_norm)."""
    norm = math.sqrt(_sum_of_squares(grads))
    if max_norm > 0 and norm > max_norm:
        return norm, max_norm / norm
    return norm, 1.0


@parallel_kernel
def _sum_of_squares(x):
    partial = np.zeros(CHUNKS)
    for s in prange(CHUNKS):
        lo, hi = block_bounds(s, CHUNKS, x.size)
        total = 0.0
        for i in range(lo, hi):
            total += np.float64(x[i]) * x[i]
        partial[s] = total
    total = 0.0
    for s in range(CHUNKS):  # a fixed order: the same norm for any thread count
        total += partial[s]
    return total


def update(name, params, grads, state, lr, step, scale=1.0, weight_decay=0.0):
    """One step; ``step`` counts from 1 (Adam's bias correction).
    ``weight_decay`` (Adam only) is decoupled, as AdamW's: every weight
    shrinks by lr * weight_decay of itself, apart from the gradient step."""
    UPDATES[name](params, grads, state, lr, step, scale, weight_decay)


@parallel_kernel
def _adam(p, g, m, v, lr, step, scale, weight_decay):
    lr_t = lr * math.sqrt(1.0 - BETA2**step) / (1.0 - BETA1**step)
    shrink = 1.0 - lr * weight_decay
    for i in prange(p.size):
        gi = g[i] * scale
        m[i] = BETA1 * m[i] + (1.0 - BETA1) * gi
        v[i] = BETA2 * v[i] + (1.0 - BETA2) * gi * gi
        p[i] = shrink * p[i] - lr_t * m[i] / (math.sqrt(v[i]) + EPS)


@parallel_kernel
def _rmsprop(p, g, ms, lr, scale):
    for i in prange(p.size):
        gi = g[i] * scale
        ms[i] = ALPHA * ms[i] + (1.0 - ALPHA) * gi * gi
        p[i] -= lr * gi / (math.sqrt(ms[i]) + EPS)


@parallel_kernel
def _adagrad(p, g, acc, lr, scale):
    for i in prange(p.size):
        gi = g[i] * scale
        acc[i] += gi * gi
        p[i] -= lr * gi / (math.sqrt(acc[i]) + EPS)


@parallel_kernel
def _sgd(p, g, vel, lr, scale):
    for i in prange(p.size):
        vel[i] = MOMENTUM * vel[i] - lr * g[i] * scale
        p[i] += vel[i]


# The kernel of each optimizer in optimizers.OPTIMIZERS, called as
# update(params, grads, state, lr, step, scale, weight_decay).
UPDATES = {
    "adam": lambda p, g, state, lr, step, scale, decay: _adam(
        p, g, state["m"], state["v"], lr, step, scale, decay
    ),
    "rmsprop": lambda p, g, state, lr, step, scale, decay: _rmsprop(
        p, g, state["mean_square"], lr, scale
    ),
    "adagrad": lambda p, g, state, lr, step, scale, decay: _adagrad(
        p, g, state["sum_square"], lr, scale
    ),
    "sgd": lambda p, g, state, lr, step, scale, decay: _sgd(p, g, state["velocity"], lr, scale),
}
