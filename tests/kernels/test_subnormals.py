"""Subnormal floats are flushed to zero in every thread that runs kernels: the
importing thread and Numba's threads (kernels/subnormals.py)."""

import numba
import numpy as np
import pytest
from numba import njit, prange

from charrnn.kernels.subnormals import (
    DENORMALS_ARE_ZERO,
    FLUSH_TO_ZERO,
    X86,
    flush_subnormals,
    or_mxcsr,
)
from charrnn.kernels.threads import use_threads

pytestmark = pytest.mark.skipif(not X86, reason="MXCSR is x86's")
TINY = np.float32(1e-30)  # normal; TINY * TINY2 would be 1e-40, subnormal
TINY2 = np.float32(1e-10)
SUBNORMAL = np.frombuffer(np.uint32(1000).tobytes(), np.float32)[0]  # 1.4e-42


@njit(parallel=True)
def per_thread(a, b, subnormal, out, modes):
    for i in prange(out.size):
        out[i] = a[i] * b[i] + subnormal * np.float32(0.5)
        modes[i] = or_mxcsr(np.uint32(0))


def test_this_thread_flushes():
    bits = FLUSH_TO_ZERO | DENORMALS_ARE_ZERO
    assert flush_subnormals() & bits == bits
    # compared as zero: denormals-are-zero reads it so (its bits are 1000, not 0)
    assert SUBNORMAL == 0 and np.float32(SUBNORMAL).view(np.uint32) == 1000


def test_numbas_threads_flush_too():
    use_threads(2)
    n = 64 * max(2, numba.get_num_threads())
    out, modes = np.ones(n, np.float32), np.zeros(n, np.uint32)
    per_thread(np.full(n, TINY), np.full(n, TINY2), SUBNORMAL, out, modes)
    assert np.all(out == 0)  # 1e-40 and 0.5 * 1.4e-42 are both flushed
    bits = FLUSH_TO_ZERO | DENORMALS_ARE_ZERO
    assert np.all(modes & bits == bits)
    # numpy, in this thread, agrees: no subnormal results
    assert np.float32(TINY) * np.float32(TINY2) == 0
