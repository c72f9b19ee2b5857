"""The matrix products of training, in the precision of the run's Workspace.

float32: BLAS for the chunk-wide products (blas.split_gemm) and the packed
float32 tiles for the recurrent ones (tiles.py).  bfloat16: both on AMX
tiles (amx.py), the operands rounded to bfloat16 as they are read and the
sums in float32; everything else (the cells' arithmetic, the loss, the
gradients and the optimizer) stays float32.  Which precisions this CPU can
train in: precision.py.
"""

import numpy as np

from . import amx, tiles
from .blas import split_gemm, split_gemm_two


def on_amx(ws):
    return ws.precision == "bfloat16"


def matmul(a, b, c, trans_a, trans_b, beta, blocks, ws):
    """c = op(a) @ op(b) + beta * c (beta 0 or 1), shared by ``blocks`` threads."""
    if on_amx(ws):
        amx.bfloat16_gemm(a, b, c, trans_a, trans_b, beta, blocks, ws)
    else:
        split_gemm(a, b, c, trans_a, trans_b, beta, blocks)


def matmul_two(a1, b1, c1, trans_a1, trans_b1, a2, b2, c2, trans_a2, trans_b2, blocks, ws):
    """c1 = op(a1) @ op(b1) and c2 = op(a2) @ op(b2)."""
    if on_amx(ws):
        amx.bfloat16_gemm(a1, b1, c1, trans_a1, trans_b1, 0.0, blocks, ws)
        amx.bfloat16_gemm(a2, b2, c2, trans_a2, trans_b2, 0.0, blocks, ws)
    else:
        split_gemm_two(a1, b1, c1, trans_a1, trans_b1, a2, b2, c2, trans_a2, trans_b2, blocks)


def recurrent_panels(ws, name, w, transposed):
    """The buffer ``name`` for W_h-like w (H, G) packed for the recurrent
    products (tiles.product) of op(w) = w.T if transposed: AMX's bfloat16
    pairs when every thread's share of a gate strip is whole blocks of 32
    columns (H and tiles' unit bounds multiples of 32), else float32 tiles."""
    H = w.shape[0]
    if on_amx(ws) and H % amx.BLOCK == 0 and tiles.NR % amx.BLOCK == 0:
        k, n = (w.shape[1], H) if transposed else (H, w.shape[1])
        return ws.take(name, amx.panels_shape(k, n), np.uint32)
    return ws.take(name, tiles.panels_shape(w, transposed), w.dtype)
