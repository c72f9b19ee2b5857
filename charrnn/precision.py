"""The precisions of the matrix products, for training and for generation.

Training (train --precision): the products read their operands in this
precision and sum in float32; the weights, gradients and optimizer state
stay float32 (mixed precision), as do the cells' arithmetic and the loss.

- float32: every product in float32, bit-identical on a machine type.
- bfloat16: the operands rounded to bfloat16 (a float32's top 16 bits, to
  nearest, ties to even: 8 bits of mantissa, the full exponent range), on
  the CPU's AMX tiles (kernels/amx.py: Intel Sapphire Rapids and later).
  Twice as fast at 2x512 (bench/units.py, bench/run.py); results differ
  from float32 and between machine types.

Generation (sample, eval --precision): weights of fewer bytes.  Generating a
character multiplies one row (a beam's few) by every weight matrix once:
past the cores' caches (2x512: 12.4 MB of float32) that is bound by how fast
memory delivers the weights, and fewer bytes per weight is the lever.  The
arithmetic stays float32: the tiles (tiles.py) widen each loaded vector to
float32 and sum in float32.

- bfloat16: half the bytes.
- int8 (generation only): per output column j, scale_j = max_k |w[k, j]| /
  127 and q[k, j] = round(w[k, j] / scale_j); the product is (x @ q)[j] *
  scale_j.  A quarter of the bytes.

round_trip gives the float32 values a precision stands for, so that
evaluation (``eval --precision``) scores exactly the model that samples.
"""

import numpy as np

from .errors import CharrnnError

# The precisions by name, with what each keeps.
PRECISIONS = {
    "float32": "every product in float32",
    "bfloat16": "operands rounded to 8 bits of mantissa, sums in float32",
    "int8": "generation only: a quarter of the weight bytes, a scale per column",
}
TRAINING = ("float32", "bfloat16")  # the precisions training's products come in
AUTO = "auto"  # training: by the CPU (for_training); generation: by the model's size (resolve)
CHOICES = (AUTO, *PRECISIONS)  # what --precision takes
# Generation's ``auto``: int8 for models of at least this many parameters,
# float32 below.  A fixed size, not this host's cache size, so that
# ``sample --seed`` writes the same text on every machine.  Measured
# (docs/internals.md, "Precision"): int8 costs 2x512 0.0004 nats/char on
# tiny-shakespeare and samples faster from about this size on; smaller
# models fit the caches in float32.
AUTO_INT8_PARAMS = 1_000_000
# The help of every command's --precision.
HELP = (
    "Of the matrix products: "
    + "; ".join(f"{name} ({what})" for name, what in PRECISIONS.items())
    + ". auto: train in bfloat16 where the CPU has AMX tiles, else float32; "
    f"sample and eval with int8 weights from {AUTO_INT8_PARAMS:,} parameters on, "
    "float32 below (docs/internals.md: Precision)."
)


def for_training(precision, resuming):
    """(the precision a run trains in, a message for the user or None).
    ``precision``: as given, or on a resume the one the run trained in."""
    from .kernels import amx  # Numba: only when a run starts

    if precision not in (AUTO, *TRAINING):
        raise CharrnnError(
            f"--precision {precision} is for sample and eval; train in "
            f"{' or '.join(TRAINING)} (or auto)"
        )
    if precision == "bfloat16" and not amx.AVAILABLE:
        if resuming:
            raise CharrnnError(
                "the run trained in bfloat16 on AMX tiles, which this machine does not "
                "offer; continue it in float32 with --precision float32"
            )
        return "float32", (
            "--precision bfloat16: this CPU has no AMX tiles (or Linux does not grant "
            "them); training in float32"
        )
    if precision == AUTO:
        return ("bfloat16" if amx.AVAILABLE else "float32"), None
    return precision, None


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
