"""The gate nonlinearities and exp.

float32 tanh is Eigen's rational approximation (within 6 ulp of the exact
value; see tests) and float32 exp is Cephes' expf (range reduction to
[-ln2/2, ln2/2], a degree-6 polynomial, the power of two put in the exponent
bits): plain arithmetic, so the loops that use them vectorize, which a call
into libm prevents.  float64, used by the gradient checks, gets the exact
math.tanh and math.exp.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .jit import kernel

_f32 = np.float32
_CLAMP = _f32(7.90531110763549805)  # tanh(x) rounds to +-1 in float32 beyond this
_A1, _A3, _A5, _A7, _A9, _A11, _A13 = (
    _f32(c)
    for c in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
)
_B0, _B2, _B4, _B6 = (
    _f32(c)
    for c in (
        4.89352518554385e-03,
        2.26843463243900e-03,
        1.18534705686654e-04,
        1.19825839466702e-06,
    )
)
HALF = _f32(0.5)


def tanh(x):
    return math.tanh(x)


@intrinsic
def muladd(typingctx, a, b, c):
    """a * b + c, as one fused multiply-add where the machine has one (LLVM's
    fmuladd): half the instructions of the polynomials below, and the same
    result on every run on a machine."""
    if not (a == b == c == types.float32):
        return None

    def codegen(context, builder, sig, args):
        f32 = ir.FloatType()
        fmuladd = builder.module.declare_intrinsic(
            "llvm.fmuladd", [f32], ir.FunctionType(f32, [f32] * 3)
        )
        return builder.call(fmuladd, args)

    return types.float32(types.float32, types.float32, types.float32), codegen


def _tanh_rational(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = muladd(x2, _A13, _A11)
    p = muladd(x2, p, _A9)
    p = muladd(x2, p, _A7)
    p = muladd(x2, p, _A5)
    p = muladd(x2, p, _A3)
    p = x * muladd(x2, p, _A1)
    q = muladd(x2, _B6, _B4)
    q = muladd(x2, q, _B2)
    q = muladd(x2, q, _B0)
    return p / q


@overload(tanh, inline="always", jit_options={"error_model": "numpy"})
def _tanh_typed(x):
    if x == types.float32:
        return _tanh_rational
    return lambda x: math.tanh(x)


@kernel(inline="always")
def sigmoid(x):
    return HALF + HALF * tanh(HALF * x)


def exp(x):
    return math.exp(x)


_EXP_HI, _EXP_LO = _f32(88.0), _f32(-87.33654)  # 2**127 and 2**-126 bound the result
_LOG2E = _f32(1.44269504088896341)
_LN2_HI, _LN2_LO = _f32(0.693359375), _f32(-2.12194440e-4)  # ln 2 in two parts
_E0, _E1, _E2, _E3, _E4, _E5 = (
    _f32(c)
    for c in (
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    )
)
_ONE = _f32(1.0)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bits are the int32 ``bits``."""
    if bits != types.int32:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


def _exp_cephes(x):
    # Saturates: exp(88) above 88, the smallest normal float below -87.3 (the
    # softmax only asks for x <= 0).  NaN stays NaN: the clamp maps it to a
    # bound, so that the int conversion below is defined, and the end puts it back.
    clamped = max(_EXP_LO, min(_EXP_HI, x))
    n = np.floor(muladd(clamped, _LOG2E, HALF))
    r = muladd(n, -_LN2_LO, muladd(n, -_LN2_HI, clamped))
    p = muladd(r, _E0, _E1)
    p = muladd(r, p, _E2)
    p = muladd(r, p, _E3)
    p = muladd(r, p, _E4)
    p = muladd(r, p, _E5)
    p = muladd(p, r * r, r) + _ONE
    y = p * _float32_from_bits(np.int32((np.int32(n) + 127) << 23))
    return y if x == x else x


@overload(exp, inline="always", jit_options={"error_model": "numpy"})
def _exp_typed(x):
    if x == types.float32:
        return _exp_cephes
    return lambda x: math.exp(x)
