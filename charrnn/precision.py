"""Weights of fewer bytes for generation: bfloat16, or int8 with a scale per column.

Generating a character multiplies one row (a beam's few) by every weight
matrix once: past the cores' caches (2x512: 12.4 MB of float32) that is
bound by how fast memory delivers the weights, and fewer bytes per weight
is the lever.  The arithmetic stays float32: the tiles (tiles.py) widen
each loaded vector to float32 and sum in float32.  Training never sees
these.

- bfloat16: a float32 rounded to its top 16 bits (to nearest, ties to
  even): 8 bits of mantissa, the full exponent range.  Half the bytes.
- int8: per output column j, scale_j = max_k |w[k, j]| / 127 and
  q[k, j] = round(w[k, j] / scale_j); the product is (x @ q)[j] * scale_j.
  A quarter of the bytes.

round_trip gives the float32 values a precision stands for, so that
evaluation (``eval --precision``) scores exactly the model that samples.
"""

import numpy as np

from .errors import CharrnnError

# The precisions by name, with what each keeps (the help of --precision).
PRECISIONS = {
    "float32": "the weights as trained",
    "bfloat16": "half the bytes, 8 bits of mantissa",
    "int8": "a quarter of the bytes, a scale per column",
}
AUTO = "auto"  # a precision by the model's size: see resolve
CHOICES = (AUTO, *PRECISIONS)  # what --precision takes
# ``auto``: int8 for models of at least this many parameters, float32 below.
# A fixed size, not this host's cache size, so that ``sample --seed`` writes
# the same text on every machine.  Measured (README, "Precision"): int8
# costs 2x512 0.0004 nats/char on tiny-shakespeare and samples faster from
# about this size on; smaller models fit the caches in float32.
AUTO_INT8_PARAMS = 1_000_000


def resolve(precision, n_params):
    """The precision ``precision`` means for a model of n_params parameters."""
    if precision == AUTO:
        return "int8" if n_params >= AUTO_INT8_PARAMS else "float32"
    check(precision)
    return precision


def bfloat16_bits(w):
    """w (float32) rounded to bfloat16, as the uint16 of its top half."""
    bits = np.ascontiguousarray(w, np.float32).view(np.uint32)
    # To nearest, ties to even; no float32 (not even -inf) overflows 32 bits here.
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def from_bfloat16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def int8_columns(w):
    """(q int8 (D, N), scales float32 (N,)) with w ~ q * scales, per column."""
    w = np.asarray(w, np.float32)
    top = np.abs(w).max(axis=0) if w.shape[0] else np.zeros(w.shape[1], np.float32)
    scales = np.where(top > 0, top / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scales), -127, 127).astype(np.int8)
    return q, scales


def encode(w, precision):
    """(values, column scales or None): w (D, N) as ``precision`` stores it."""
    check(precision)
    if precision == "int8":
        return int8_columns(w)
    if precision == "bfloat16":
        return bfloat16_bits(w), None
    return np.asarray(w, np.float32), None


def round_trip(w, precision):
    """The float32 values that ``precision`` keeps of w (D, N)."""
    values, scales = encode(w, precision)
    if values.dtype == np.uint16:
        return from_bfloat16(values)
    return values.astype(np.float32) * (1 if scales is None else scales)


def check(precision):
    if precision not in PRECISIONS:
        raise CharrnnError(f"--precision must be one of {', '.join(CHOICES)}, not {precision!r}")
