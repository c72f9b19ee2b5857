"""How many threads the kernels use.

The work of one training step is shared out inside the kernels: the LSTM
recurrence cuts the hidden units into one block per thread (the threads meet
once per time step) and the large products cut their output rows; see
lstm.py and blas.split_gemm.  The threads are Numba's; BLAS itself runs
single-threaded inside them, so no second pool of threads competes for the
cores.
"""

import os

import numba

from .blas import set_threads


def default_threads():
    """Two, or fewer if this process may use fewer CPUs: the measured sweet spot
    of a laptop (see README), and safe when another program holds a core."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(2, available))


def use_threads(n):
    """Run kernels on n threads (at most as many as Numba started); returns the
    number of work blocks, n, which with the seed decides the results."""
    set_threads(1)
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return n
