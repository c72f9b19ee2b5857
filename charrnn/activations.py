"""Numba settings for every kernel, and the gate nonlinearities.

float32 tanh is Eigen's rational approximation (within 6 ulp of the exact
value; see tests): plain arithmetic, so the gate loops vectorize, which a call
into libm's tanh prevents.  float64, used only by the gradient checks, gets
the exact math.tanh.  ``error_model="numpy"`` drops the division-by-zero
check that would also block vectorization.
"""
import functools
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

# nogil: kernels run side by side in threads (see parallel.py).
kernel = functools.partial(njit, cache=True, error_model="numpy", nogil=True)
# Kernels that share their work among Numba's threads with prange.
parallel_kernel = functools.partial(kernel, parallel=True)

_f32 = np.float32
_CLAMP = _f32(7.90531110763549805)  # tanh(x) rounds to +-1 in float32 beyond this
_A1, _A3, _A5, _A7, _A9, _A11, _A13 = (_f32(c) for c in (
    4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
    -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
_B0, _B2, _B4, _B6 = (_f32(c) for c in (
    4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))
HALF = _f32(0.5)


def tanh(x):
    return math.tanh(x)


def _tanh_rational(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x * (x2 * p + _A1)
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return p / q


@overload(tanh, inline="always", jit_options={"error_model": "numpy"})
def _tanh_typed(x):
    if x == types.float32:
        return _tanh_rational
    return lambda x: math.tanh(x)


@kernel(inline="always")
def sigmoid(x):
    return HALF + HALF * tanh(HALF * x)
