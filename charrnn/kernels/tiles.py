"""The recurrent step's product, C += A @ W, with W packed once per chunk.

The recurrence multiplies by the same W_h at every one of a chunk's T steps,
with only B (the batch) rows in A.  OpenBLAS re-packs W on every call, which
at 50 rows costs it a third of its speed; here W is packed once per chunk
into panels of NR columns, each panel contiguous in k, and a register tile
computes C[MR rows, NR columns] over the whole inner dimension: per k, one
load of NR packed floats, MR broadcast elements of A and MR * NR / VEC fused
multiply-adds, with the C tile held in vector registers throughout.
Measured against OpenBLAS on this machine at 50 x 512 x 1024: 1.2-1.5x
per core (docs/internals.md).

Numba cannot keep arrays in registers, so the tile is written as LLVM IR
(``numba.extending.intrinsic``) on LLVM vectors of VEC floats, sized to the
host's registers.  float32 arithmetic only; the float64 gradient checks use
BLAS.  For generation the panels may hold fewer bytes per weight
(precision.py): bfloat16 (the top half of a float32's bits, kept as uint16)
or int8 with a float32 scale per column; the tile widens each loaded vector
to float32, and applies an int8 panel's scales once, to the finished sums.

CHARRNN_TILES=avx2 or =avx512 forces a tile shape (tests run the other
machine type's path; LLVM splits vectors wider than the registers).
"""

import os

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from . import amx
from .blas import AS_IS, TRANSPOSED, block_bounds, gemm
from .jit import inline, kernel

_features = llvm.get_host_cpu_features()
TILES = os.environ.get("CHARRNN_TILES") or (
    "avx512" if _features.get("avx512f") else "avx2" if _features.get("avx") else "vec4"
)
if TILES not in ("avx512", "avx2", "vec4"):
    raise ImportError(f"CHARRNN_TILES must be avx512, avx2 or vec4, not {TILES!r}")
if TILES == "avx512":
    VEC, MR = 16, 12  # 32 registers: 24 accumulators, 2 of W, 1 broadcast
elif TILES == "avx2":
    VEC, MR = 8, 6  # 16 registers: 12 accumulators
else:
    VEC, MR = 4, 8  # e.g. 128-bit NEON, 32 registers
# Where registers allow, a tile of MR + 1 rows too (26 accumulators on
# AVX-512): then 25 rows take two passes (12 + 13), not three (12 + 12 + 1).
TALL = MR + 1 if VEC == 16 else MR
NR = 2 * VEC  # columns per panel: two vectors
ACCUMULATE, OVERWRITE = True, False  # a product adds to its output, or replaces it


# Panel element types: what a loaded vector of them is widened from.
PANEL_TYPES = (types.float32, types.uint16, types.int8)


@intrinsic
def _tile(typingctx, rows, accumulate, a, panels, scales, q, c, r0):
    """c[r0:r0+rows, NR*q:NR*q+NR] (+)= a[r0:r0+rows, :] @ panels[q]
    a (M, K) with contiguous rows, panels (P, K, NR), c (M, N) with contiguous
    rows; ``rows`` and ``accumulate`` are compile-time constants.  panels of
    float32, of bfloat16 bits (uint16), or of int8 with ``scales`` (P, NR)
    float32 multiplying the columns; scales is not read for the others."""
    if not (
        isinstance(rows, types.IntegerLiteral) and isinstance(accumulate, types.BooleanLiteral)
    ):
        return None
    if panels.layout != "C" or panels.ndim != 3 or panels.dtype not in PANEL_TYPES:
        raise TypingError(
            "panels must be a C-contiguous (P, K, NR) array of float32, uint16 (bfloat16) or int8"
        )
    scaled = panels.dtype == types.int8
    if scaled and not (isinstance(scales, types.Array) and scales.dtype == types.float32):
        raise TypingError("int8 panels need float32 scales (P, NR)")
    n_rows, add = rows.literal_value, accumulate.literal_value
    sig = types.void(rows, accumulate, a, panels, scales, q, c, r0)

    def codegen(context, builder, sig, args):
        _, _, a_arg, p_arg, s_arg, q, c_arg, r0 = args
        A = context.make_array(sig.args[2])(context, builder, a_arg)
        P = context.make_array(sig.args[3])(context, builder, p_arg)
        C = context.make_array(sig.args[6])(context, builder, c_arg)
        i64, i32 = ir.IntType(64), ir.IntType(32)
        vec = ir.VectorType(ir.FloatType(), VEC)
        vec_ptr = vec.as_pointer()
        element = context.get_data_type(panels.dtype)
        raw_ptr = ir.VectorType(element, VEC).as_pointer()

        def widen(raw):
            """A loaded vector of panel elements as VEC floats."""
            if panels.dtype == types.float32:
                return raw
            if panels.dtype == types.uint16:  # bfloat16: the high half of a float32
                wide = builder.shl(
                    builder.zext(raw, ir.VectorType(i32, VEC)),
                    ir.Constant(ir.VectorType(i32, VEC), [16] * VEC),
                )
                return builder.bitcast(wide, vec)
            return builder.sitofp(raw, vec)

        def const(n):
            return ir.Constant(i64, n)

        K = cgutils.unpack_tuple(builder, A.shape, 2)[1]
        lda = builder.sdiv(cgutils.unpack_tuple(builder, A.strides, 2)[0], const(4))
        ldc = builder.sdiv(cgutils.unpack_tuple(builder, C.strides, 2)[0], const(4))
        a_rows = [
            builder.gep(A.data, [builder.mul(builder.add(r0, const(r)), lda)])
            for r in range(n_rows)
        ]
        c_rows = [
            builder.gep(
                C.data,
                [
                    builder.add(
                        builder.mul(builder.add(r0, const(r)), ldc), builder.mul(q, const(NR))
                    )
                ],
            )
            for r in range(n_rows)
        ]
        panel = builder.gep(P.data, [builder.mul(builder.mul(q, K), const(NR))])
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{VEC}f32"
        )
        splat = ir.Constant(ir.VectorType(i32, VEC), [0] * VEC)

        def c_vector(r, v):
            return builder.bitcast(builder.gep(c_rows[r], [const(VEC * v)]), vec_ptr)

        # Accumulators live in allocas, which LLVM promotes to registers.
        # Scaled panels sum from zero: c is added after the sums are scaled.
        acc = []
        for r in range(n_rows):
            for v in range(2):
                slot = cgutils.alloca_once(builder, vec)
                start = (
                    builder.load(c_vector(r, v), align=4)
                    if add and not scaled
                    else ir.Constant(vec, [0.0] * VEC)
                )
                builder.store(start, slot)
                acc.append(slot)
        with cgutils.for_range(builder, K) as loop:
            w_k = builder.gep(panel, [builder.mul(loop.index, const(NR))])
            w = [
                widen(
                    builder.load(
                        builder.bitcast(builder.gep(w_k, [const(VEC * v)]), raw_ptr), align=1
                    )
                )
                for v in range(2)
            ]
            for r in range(n_rows):
                a_rk = builder.load(builder.gep(a_rows[r], [loop.index]))
                one = builder.insert_element(
                    ir.Constant(vec, ir.Undefined), a_rk, ir.Constant(i32, 0)
                )
                broadcast = builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined), splat)
                for v in range(2):
                    slot = acc[2 * r + v]
                    builder.store(builder.call(fma, [broadcast, w[v], builder.load(slot)]), slot)
        if scaled:
            S = context.make_array(sig.args[4])(context, builder, s_arg)
            column_scales = builder.gep(S.data, [builder.mul(q, const(NR))])
            scale = [
                builder.load(
                    builder.bitcast(builder.gep(column_scales, [const(VEC * v)]), vec_ptr), align=4
                )
                for v in range(2)
            ]
            for r in range(n_rows):
                for v in range(2):
                    total = builder.load(acc[2 * r + v])
                    result = (
                        builder.call(fma, [total, scale[v], builder.load(c_vector(r, v), align=4)])
                        if add
                        else builder.fmul(total, scale[v])
                    )
                    builder.store(result, c_vector(r, v), align=4)
            return context.get_dummy_value()
        for r in range(n_rows):
            for v in range(2):
                builder.store(builder.load(acc[2 * r + v]), c_vector(r, v), align=4)
        return context.get_dummy_value()

    return sig, codegen


@kernel
def packed_product(a, panels, scales, q0, q1, c, accumulate):
    """c[:, NR*q0:NR*q1] (+)= a @ (the columns packed in panels[q0:q1]).

    a (M, K) and c (M, N) float32 with contiguous rows; panels from pack_columns
    or pack_rows, or for generation precision.quantized; scales (P, NR) the
    column scales of int8 panels (NO_SCALES for the others)."""
    for q in range(q0, q1):
        if accumulate:
            _panel(a, panels, scales, q, c, True)
        else:
            _panel(a, panels, scales, q, c, False)


NO_SCALES = np.zeros((0, NR), np.float32)  # the scales argument of unscaled panels


@kernel(inline="always")
def _panel(a, panels, scales, q, c, accumulate):
    M = a.shape[0]
    r = 0
    passes = (M + TALL - 1) // TALL
    if TALL > MR and MR * passes <= M:
        # Rows split evenly into tiles of MR and TALL rows: no short pass.
        for p in range(passes):
            if p < passes - (M - MR * passes):
                _tile(MR, accumulate, a, panels, scales, q, c, r)
                r += MR
            else:
                _tile(TALL, accumulate, a, panels, scales, q, c, r)
                r += TALL
        return
    while r + MR <= M:
        _tile(MR, accumulate, a, panels, scales, q, c, r)
        r += MR
    # The last M % MR rows (< 12): one tile of 8 then one of the rest, so that
    # up to 8 rows (a beam) pass over each panel once.
    if M - r >= 8:
        _tile(8, accumulate, a, panels, scales, q, c, r)
        r += 8
    rest = M - r
    if rest == 1:
        _tile(1, accumulate, a, panels, scales, q, c, r)
    elif rest == 2:
        _tile(2, accumulate, a, panels, scales, q, c, r)
    elif rest == 3:
        _tile(3, accumulate, a, panels, scales, q, c, r)
    elif rest == 4:
        _tile(4, accumulate, a, panels, scales, q, c, r)
    elif rest == 5:
        _tile(5, accumulate, a, panels, scales, q, c, r)
    elif rest == 6:
        _tile(6, accumulate, a, panels, scales, q, c, r)
    elif rest == 7:
        _tile(7, accumulate, a, panels, scales, q, c, r)


@kernel
def pack_columns(w, panels, q0, q1):
    """panels[q, k, :] = w[k, NR*q:NR*q+NR] for q0 <= q < q1: the product a @ w."""
    K = w.shape[0]
    for q in range(q0, q1):
        for k in range(K):
            panels[q, k] = w[k, NR * q : NR * q + NR]


@kernel
def pack_rows(w, panels, q0, q1):
    """panels[q, k, :] = w[NR*q:NR*q+NR, k] for q0 <= q < q1: the product a @ w.T."""
    K = w.shape[1]
    for q in range(q0, q1):
        for j in range(NR):
            row = w[NR * q + j]
            for k in range(K):
                panels[q, k, j] = row[k]


def product(a, w, panels, j0, j1, c, accumulate, transposed):
    """c[:, j0:j1] (+)= a @ op(w)[:, j0:j1], op(w) = w.T if transposed, from
    ``panels`` (packed by pack) when it holds any, else by BLAS."""


@overload(product)
def _product_typed(a, w, panels, j0, j1, c, accumulate, transposed):
    if panels.dtype == types.uint32:  # bfloat16 pairs for AMX (products.recurrent_panels)

        def on_amx(a, w, panels, j0, j1, c, accumulate, transposed):
            amx.product_of_floats(a, panels, c, j0 // amx.COLUMNS, j1 // amx.COLUMNS, accumulate)

        return on_amx
    # float32 may use the packed tiles; other types always take BLAS.
    packed = a.dtype == types.float32

    def impl(a, w, panels, j0, j1, c, accumulate, transposed):
        if packed and panels.shape[0] > 0:
            packed_product(a, panels, NO_SCALES, j0 // NR, j1 // NR, c, accumulate)
        elif transposed:
            gemm(a, w[j0:j1], c[:, j0:j1], AS_IS, TRANSPOSED, 1.0, 1.0 if accumulate else 0.0)
        else:
            gemm(a, w[:, j0:j1], c[:, j0:j1], AS_IS, AS_IS, 1.0, 1.0 if accumulate else 0.0)

    return impl


def panels_shape(w, transposed):
    """The shape of w's panels (op(w) = w.T if transposed): (N / NR, K, NR),
    or no panels, (0, K, NR), when w is not float32 or its dimensions are not
    multiples of NR (w is (H, 4H) or its transpose, and each gate strip must
    start a panel)."""
    n, k = (w.shape[0], w.shape[1]) if transposed else (w.shape[1], w.shape[0])
    if w.dtype.itemsize != 4 or n % NR != 0 or k % NR != 0:
        return (0, k, NR)
    return (n // NR, k, NR)


def panels_for(w, transposed):
    """An empty buffer for w's panels (see panels_shape)."""
    return np.empty(panels_shape(w, transposed), w.dtype)


@kernel
def pack(w, panels, j0, j1, transposed):
    """Pack the columns j0..j1 of op(w) (multiples of NR) into ``panels``:
    float32 tiles, or AMX's bfloat16 pairs (products.recurrent_panels)."""
    _pack(w, panels, j0, j1, transposed)


def _pack(w, panels, j0, j1, transposed):
    raise NotImplementedError("only callable from compiled code")


@overload(_pack)
def _pack_typed(w, panels, j0, j1, transposed):
    if panels.dtype == types.uint32:

        def pairs(w, panels, j0, j1, transposed):
            amx.pack_pairs(w, panels, transposed, j0 // amx.COLUMNS, j1 // amx.COLUMNS)

        return pairs

    def floats(w, panels, j0, j1, transposed):
        if panels.shape[0] == 0:
            return
        if transposed:
            pack_rows(w, panels, j0 // NR, j1 // NR)
        else:
            pack_columns(w, panels, j0 // NR, j1 // NR)

    return floats


@inline
def unit_bounds(s, blocks, n):
    """[lo, hi) of block s of range(n): on panel edges (multiples of NR) when
    n allows, so that each block packs and multiplies whole panels."""
    if n % NR == 0:
        lo, hi = block_bounds(s, blocks, n // NR)
        return lo * NR, hi * NR
    return block_bounds(s, blocks, n)
