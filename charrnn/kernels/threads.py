"""How the work of a step is cut into blocks, and how many threads run them.

The work of one training step is shared out inside the kernels: the
recurrence cuts the hidden units (or the batch's streams) into blocks, and
the large products cut their output rows (recurrence.py, blas.split_gemm).
The blocks, not the threads, fix the order of every sum: there are always
WORK_BLOCKS of them, and one thread runs them one after the other as two
threads run them side by side, so a seed gives the same numbers on a quiet
machine and on a busy one.

The threads are Numba's (BLAS single-threaded inside them, so no second pool
competes for the cores).  How many is chosen from the CPUs that are free:
the CPUs this process may use, less the CPU time that other processes took
on them lately (cpus.LoadMeter).  A thread that waits at a step's barrier for a
partner whose core another program holds is the slow cliff of a busy
machine: measured at 2x512, two threads beside one CPU-bound process ran at
a quarter of one thread's speed (bench/load.py).  And a step too small to
share runs on one thread, quiet or not (SHARED_WORK_FROM).
"""

import time
from dataclasses import dataclass

import numba

from ..cpus import METER, usable_cpus
from .blas import set_threads

WORK_BLOCKS = 2  # the cores the kernels are tuned for; any thread count runs them
RECHOOSE_SECONDS = 2.0  # a long job weighs the load again this often
# Multiply-adds a layer a time step (step_work) below which a second thread's
# barrier costs more than the half it takes over.  Measured quiet, `eval` of one
# stream of an LSTM (bench/load.py): 68,513 a layer (1x96) and 71,312 (2x96) ran
# 1.14x and 1.08x faster on one thread; 107,713 (1x128) 1.05x faster on two.
SHARED_WORK_FROM = 90_000


def default_threads():
    """The most threads worth running: one a block, at most the usable CPUs."""
    return max(1, min(WORK_BLOCKS, len(usable_cpus())))


def step_work(n_params, layers, streams):
    """The multiply-adds of one layer's time step for ``streams`` streams of a
    model of ``n_params`` parameters in ``layers`` layers: what the threads
    share between two barriers."""
    return streams * n_params // max(1, layers)


def choose_threads(requested=None, work=None):
    """``requested`` threads; or one for a step of less than SHARED_WORK_FROM
    ``work`` (step_work); or one a free CPU, at most default_threads()."""
    if requested:
        return requested
    if work is not None and work < SHARED_WORK_FROM:
        return 1
    return METER.free_threads(default_threads())


def use_threads(n):
    """Run kernels on n threads (at most as many as Numba started); returns the
    number of work blocks, WORK_BLOCKS, which with the seed decides the results."""
    set_threads(1)
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return WORK_BLOCKS


def run_on(requested=None, work=None):
    """Run kernels on ``requested`` threads, or as many as choose_threads gives
    ``work``, for a job of one call; returns the work blocks (use_threads)."""
    return Threads(requested, work).update()


@dataclass
class Threads:
    """The threads of a long job (training): ``requested``, or chosen again
    from the free CPUs every RECHOOSE_SECONDS, so that a run that began on a
    quiet machine steps back to one thread when another program takes a core,
    and forward again when it leaves."""

    requested: int = None
    work: int = None  # step_work of the job: a small step runs on one thread
    count: int = 0  # running now
    due: float = 0.0  # time.monotonic() of the next choice

    def update(self):
        """Choose when due; the work blocks (use_threads)."""
        now = time.monotonic()
        if not self.count or (self.requested is None and now >= self.due):
            self.count = choose_threads(self.requested, self.work)
            self.due = now + RECHOOSE_SECONDS
            use_threads(self.count)
        return WORK_BLOCKS
