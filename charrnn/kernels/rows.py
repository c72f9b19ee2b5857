"""Products of a few rows (1 when sampling, the beam width in beam search)
with a weight matrix packed into panels (tiles.py), for generation.

Every output column is computed the same way whichever thread computes it,
so results do not depend on the thread count.  Cutting the columns into
blocks for threads pays when a product is big enough: then each core
streams its share of weights too big for one core's cache.
"""

from typing import NamedTuple

import numpy as np
from numba import prange

from .. import precision as precisions
from .jit import inner_kernel, inner_parallel_kernel, kernel
from .tiles import ACCUMULATE, NR, packed_product

PARALLEL_MIN = 1 << 17  # multiply-adds (rows x weights) from which blocks pay
OUTPUT_BLOCKS = 4  # blocks of panels shared among Numba's threads


class PackedWeights(NamedTuple):
    """A weight matrix (D, N) for add_product, in a precision (precision.py)."""

    # (N' / NR, D, NR), N' = N rounded up to whole panels, the extra columns zero:
    # float32, bfloat16 bits (uint16) or int8
    panels: np.ndarray
    scales: np.ndarray  # int8: (N' / NR, NR) float32 column scales; else (0, NR)


@kernel
def packed_columns(n):
    """Columns of a product with n outputs: n rounded up to whole panels."""
    return -(-n // NR) * NR


def packed(w, precision="float32"):
    """w (D, N) packed for add_product in ``precision``."""
    D, N = w.shape
    columns = packed_columns(N)
    values, column_scales = precisions.encode(w, precision)
    scales = np.zeros((0, NR), np.float32)
    if column_scales is not None:
        scales = np.ones(columns, np.float32)
        scales[:N] = column_scales
        scales = scales.reshape(columns // NR, NR)
    padded = np.zeros((D, columns), values.dtype)
    padded[:, :N] = values
    panels = np.ascontiguousarray(padded.reshape(D, columns // NR, NR).transpose(1, 0, 2))
    return PackedWeights(panels, scales)


def rounding(precision):
    """A stand-in for ``packed`` that writes the values ``precision`` keeps
    into w itself (a view of a copy of the parameters) and packs nothing:
    run through a cell's step_weights, it rounds exactly the matrices that
    generation packs, so evaluation can score the model that samples."""
    precisions.check(precision)

    def round_in_place(w):
        if w.size and precision != "float32":
            w[...] = precisions.round_trip(w, precision)

    return round_in_place


@inner_kernel
def add_product(x, w, out):
    """out (K, N) += x (K, D) @ W, W a PackedWeights."""
    if x.shape[0] * w.panels.size >= PARALLEL_MIN:
        _split_outputs(x, w, out)
    else:
        packed_product(x, w.panels, w.scales, 0, w.panels.shape[0], out, ACCUMULATE)


@inner_parallel_kernel
def _split_outputs(x, w, out):
    P = w.panels.shape[0]
    for b in prange(OUTPUT_BLOCKS):
        packed_product(
            x,
            w.panels,
            w.scales,
            P * b // OUTPUT_BLOCKS,
            P * (b + 1) // OUTPUT_BLOCKS,
            out,
            ACCUMULATE,
        )
