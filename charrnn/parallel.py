"""Data parallelism over the batch: the B streams are cut into S contiguous shards,
one thread each, every thread with single-threaded BLAS.

Streams never interact (each row has its own hidden state), so shards only
meet when their gradients are summed.  The compiled kernels and NumPy's
matrix products release the GIL, so the threads run truly in parallel; one
BLAS thread per shard means no BLAS threads spinning against ours.
Results depend on S (the summation order changes), never on timing.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .blas import set_threads
from .model import backward, forward


def default_threads():
    """Two, or fewer if this process may use fewer CPUs: the measured sweet spot
    of a laptop (see README), and safe when another program holds a core,
    because shards wait for each other without spinning."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(2, available))


class Shards:
    def __init__(self, threads):
        set_threads(1)
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self._grads = []  # a gradient buffer per extra shard, reused

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()

    def bounds(self, batch):
        """[(first, end)] of each shard's streams; never an empty shard."""
        edges = np.linspace(0, batch, min(self.threads, batch) + 1).round().astype(int)
        return list(zip(edges[:-1], edges[1:]))

    def map(self, fn, items):
        if self._pool is None:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    def loss_and_grad(self, params, cfg, inputs, targets, h, c, masks, grads):
        """Mean loss of the chunk; writes its gradient into ``grads``.

        Returns (mean loss, hT, cT); h, c, hT, cT are (L, B, H).
        """
        bounds = self.bounds(inputs.shape[1])
        while len(self._grads) < len(bounds) - 1:
            self._grads.append(np.empty_like(grads))
        scale = 1.0 / inputs.size

        def run(shard):
            lo, hi = bounds[shard]
            loss, hT, cT, cache = forward(
                params, cfg, inputs[:, lo:hi], targets[:, lo:hi], h[:, lo:hi], c[:, lo:hi],
                None if masks is None else masks[:, :, lo:hi], grad_scale=scale)
            backward(params, cfg, cache, grads if shard == 0 else self._grads[shard - 1])
            return loss, hT, cT

        results = self.map(run, range(len(bounds)))
        for extra in self._grads[:len(bounds) - 1]:
            grads += extra
        loss = sum(r[0] for r in results) * scale
        h_out = np.concatenate([r[1] for r in results], axis=1)
        c_out = np.concatenate([r[2] for r in results], axis=1)
        return loss, h_out, c_out
