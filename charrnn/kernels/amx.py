"""bfloat16 matrix products on AMX tiles: c (M, N) (+)= a (M, K) @ w (K, N),
a and w rounded to bfloat16, the sums in float32.

Intel Sapphire Rapids and later have AMX: eight tile registers of up to 16
rows of 64 bytes, and TDPBF16PS, which adds a (16, 32) bfloat16 tile times a
(32, 16) one into a (16, 16) float32 tile.  One instruction is 8,192
multiply-adds; measured on this project's Xeon (bench/units.py): 4-5x the
float32 FMA tiles of tiles.py on the recurrent step's shapes, one core.

Layout.  a is kept as bfloat16 bits (uint16), its rows padded with zeros to
whole 32-element steps of K (to_bfloat16).  w is packed once into panels of
16 columns in the tiles' pair layout: panels[p, k2, j] holds w[2 k2, 16p + j]
in its low half and w[2 k2 + 1, 16p + j] in its high half (pack_pairs).  A
block of c, 32 rows by 32 columns, lives in four tile registers (tmm0-3)
over the whole of K, with two tiles of a (tmm4, 5) and two of w (tmm6, 7)
loaded per step of 32.  Rows past a multiple of 32 take a second tile
configuration whose tiles have just those rows.

Where the CPU lacks AMX, or Linux does not grant its tile state to this
process (arch_prctl, Linux 5.16 and later), AVAILABLE is False and nothing
here may be called; the kernels still compile (their tile instructions become
traps), so that code which calls them on one path compiles on every machine.
CHARRNN_AMX=0 turns AMX off (tests use it to run the other path).
"""

import ctypes
import os
import sys

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .blas import block_bounds
from .jit import inline, kernel, parallel_kernel

ROWS, COLUMNS, STEP = 16, 16, 32  # a tile's rows; its float32 columns; bfloat16s per K step
BLOCK = 2 * ROWS  # a block of c: 32 rows by 32 columns, four tiles


def _granted():
    """Ask Linux for the AMX tile state (XTILEDATA) for this process."""
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA = 158, 0x1023, 18
        return libc.syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0
    except (OSError, AttributeError):
        return False


_features = llvm.get_host_cpu_features()
COMPILES = bool(_features.get("amx-tile") and _features.get("amx-bf16"))
AVAILABLE = COMPILES and os.environ.get("CHARRNN_AMX", "1") != "0" and _granted()

_i8, _i16, _i64 = ir.IntType(8), ir.IntType(16), ir.IntType(64)
_byte_ptr = _i8.as_pointer()


def _declare(builder, name, args):
    return cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), args), name
    )


def _trap(builder):
    builder.call(_declare(builder, "llvm.trap", []), [])


@intrinsic
def _configure(typingctx, rows0, rows1):
    """Load the tile configuration for a block of rows0 + rows1 rows (rows1 0:
    one row of tiles): C tmm0-1 (rows0) and tmm2-3 (rows1), a tmm4 (rows0)
    and tmm5 (rows1), w tmm6-7 (16 rows); every tile 64 bytes wide."""
    sig = types.void(rows0, rows1)

    def codegen(context, builder, sig, args):
        if not COMPILES:
            _trap(builder)
            return context.get_dummy_value()
        r0, r1 = (builder.trunc(builder.sext(v, _i64), _i8) for v in args)
        config = cgutils.alloca_once(builder, ir.ArrayType(_i8, 64))
        builder.store(ir.Constant(ir.ArrayType(_i8, 64), [0] * 64), config)
        byte = builder.bitcast(config, _byte_ptr)

        def put(offset, value, kind=_i8):
            slot = builder.bitcast(
                builder.gep(byte, [ir.Constant(_i64, offset)]), kind.as_pointer()
            )
            builder.store(value, slot)

        put(0, ir.Constant(_i8, 1))  # palette 1
        rows = (r0, r0, r1, r1, r0, r1, ir.Constant(_i8, ROWS), ir.Constant(_i8, ROWS))
        for t, n in enumerate(rows):
            # a tile of no rows must have no columns, or ldtilecfg faults
            used = builder.icmp_unsigned("!=", n, ir.Constant(_i8, 0))
            width = builder.select(used, ir.Constant(_i16, 64), ir.Constant(_i16, 0))
            put(16 + 2 * t, width, _i16)  # bytes per row
            put(48 + t, n)
        builder.call(_declare(builder, "llvm.x86.ldtilecfg", [_byte_ptr]), [byte])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _release(typingctx):
    """Return the tiles to their initial state (smaller context switches)."""
    sig = types.void()

    def codegen(context, builder, sig, args):
        if COMPILES:
            builder.call(_declare(builder, "llvm.x86.tilerelease", []), [])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _block(typingctx, two, accumulate, a, panels, c, r0, p0):
    """c[r0:r0+32, 16 p0:16 p0+32] (+)= a[r0:r0+32] @ (panels p0, p0+1) over
    all of K, with the tile configuration of _configure (two: literal, both
    rows of tiles; else only the first).  a (M, K') uint16, K' = 32 k;
    panels (P, K'/2, 16) uint32; c (M, N) float32, contiguous rows."""
    if not (isinstance(two, types.BooleanLiteral) and isinstance(accumulate, types.BooleanLiteral)):
        return None
    both, add = two.literal_value, accumulate.literal_value
    sig = types.void(two, accumulate, a, panels, c, r0, p0)

    def codegen(context, builder, sig, args):
        if not COMPILES:
            _trap(builder)
            return context.get_dummy_value()
        _, _, a_arg, p_arg, c_arg, r0, p0 = args
        A = context.make_array(sig.args[2])(context, builder, a_arg)
        P = context.make_array(sig.args[3])(context, builder, p_arg)
        C = context.make_array(sig.args[4])(context, builder, c_arg)

        def const(n, kind=_i64):
            return ir.Constant(kind, n)

        load = _declare(builder, "llvm.x86.tileloadd64", [_i8, _byte_ptr, _i64])
        store = _declare(builder, "llvm.x86.tilestored64", [_i8, _byte_ptr, _i64])
        zero = _declare(builder, "llvm.x86.tilezero", [_i8])
        dot = _declare(builder, "llvm.x86.tdpbf16ps", [_i8, _i8, _i8])
        a_stride = cgutils.unpack_tuple(builder, A.strides, 2)[0]  # bytes
        c_stride = cgutils.unpack_tuple(builder, C.strides, 2)[0]
        K2 = cgutils.unpack_tuple(builder, P.shape, 3)[1]
        steps = builder.sdiv(K2, const(STEP // 2))
        row_tiles = (0, 1) if both else (0,)

        def address(base, stride, row, offset):
            at = builder.add(builder.mul(builder.add(r0, const(row)), stride), offset)
            return builder.gep(builder.bitcast(base, _byte_ptr), [at])

        def c_tile(i, j):
            return address(
                C.data, c_stride, ROWS * i, builder.mul(builder.add(p0, const(j)), const(64))
            )

        for i in row_tiles:
            for j in (0, 1):
                if add:
                    builder.call(load, [const(2 * i + j, _i8), c_tile(i, j), c_stride])
                else:
                    builder.call(zero, [const(2 * i + j, _i8)])
        panel_bytes = builder.mul(K2, const(4 * COLUMNS))
        with cgutils.for_range(builder, steps) as loop:
            for i in row_tiles:
                a_at = address(A.data, a_stride, ROWS * i, builder.mul(loop.index, const(2 * STEP)))
                builder.call(load, [const(4 + i, _i8), a_at, a_stride])
            for j in (0, 1):
                panel = builder.mul(builder.add(p0, const(j)), panel_bytes)
                at = builder.add(panel, builder.mul(loop.index, const(STEP // 2 * 4 * COLUMNS)))
                w_at = builder.gep(builder.bitcast(P.data, _byte_ptr), [at])
                builder.call(load, [const(6 + j, _i8), w_at, const(4 * COLUMNS)])
            for i in row_tiles:
                for j in (0, 1):
                    t = const(2 * i + j, _i8)
                    builder.call(dot, [t, const(4 + i, _i8), const(6 + j, _i8)])
        for i in row_tiles:
            for j in (0, 1):
                builder.call(store, [const(2 * i + j, _i8), c_tile(i, j), c_stride])
        return context.get_dummy_value()

    return sig, codegen


@kernel
def product(a, panels, c, p0, p1, accumulate):
    """c[:, 16 p0:16 p1] (+)= a @ (the columns of panels p0..p1), p0 and p1
    even.  a (M, K') bfloat16 bits from to_bfloat16, panels from pack_pairs
    for the same K', c (M, N) float32 with contiguous rows."""
    M = a.shape[0]
    full = M - M % BLOCK
    if full > 0:
        _configure(ROWS, ROWS)
        for r0 in range(0, full, BLOCK):
            for p in range(p0, p1, 2):
                if accumulate:
                    _block(True, True, a, panels, c, r0, p)
                else:
                    _block(True, False, a, panels, c, r0, p)
    rest = M - full
    if rest > 0:
        _configure(min(rest, ROWS), max(rest - ROWS, 0))
        for p in range(p0, p1, 2):
            if rest > ROWS:
                if accumulate:
                    _block(True, True, a, panels, c, full, p)
                else:
                    _block(True, False, a, panels, c, full, p)
            elif accumulate:
                _block(False, True, a, panels, c, full, p)
            else:
                _block(False, False, a, panels, c, full, p)
    _release()


@kernel
def product_of_floats(a, panels, c, p0, p1, accumulate):
    """product for float32 a (M, K), rounded to bfloat16 here (the recurrent
    step's h, whose rows every thread reads)."""
    a_bits = np.empty((a.shape[0], 2 * panels.shape[1]), np.uint16)
    to_bfloat16(a, a_bits)
    product(a_bits, panels, c, p0, p1, accumulate)


@inline
def padded(k):
    """K rounded up to whole steps of 32 (a's row length, twice the panels' K2)."""
    return -(-k // STEP) * STEP


@intrinsic
def _bits(typingctx, x):
    """The bits of float32 x as a uint32 (a bitcast, which loops vectorize)."""
    if x != types.float32:
        return None
    sig = types.uint32(x)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


@inline
def _rounded(x):
    """float32 x rounded to bfloat16, as the bits of its top half in a uint32:
    to nearest, ties to even (no float32, not even -inf, overflows here)."""
    bits = _bits(x)
    return (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)


TRANSPOSE_BLOCK = 32  # of x's rows read together when converting x.T: 64-byte runs written


@kernel
def to_bfloat16(x, out, transposed=False, lo=0, hi=-1):
    """Rows lo..hi-1 (hi -1: all) of out = op(x) as bfloat16 bits, op(x) = x.T
    if transposed, zeros past op(x)'s K columns.  x float32."""
    M, K = (x.shape[1], x.shape[0]) if transposed else x.shape
    hi = M if hi < 0 else hi
    if transposed:  # in blocks of x's rows, so that both sides stay in cache
        for k0 in range(0, K, TRANSPOSE_BLOCK):
            k1 = min(k0 + TRANSPOSE_BLOCK, K)
            for i in range(lo, hi):
                row = out[i]
                for k in range(k0, k1):
                    row[k] = np.uint16(_rounded(x[k, i]))
    else:
        for i in range(lo, hi):
            row, values = out[i], x[i]
            for k in range(K):
                row[k] = np.uint16(_rounded(values[k]))
    out[lo:hi, K:] = 0


def panels_shape(k, n):
    """Panels of w (k, n) for product: (n' / 16, padded(k) / 2, 16), n' = n
    rounded up to whole blocks of 32 columns (the extra columns zero)."""
    return (-(-n // BLOCK) * 2, padded(k) // 2, COLUMNS)


@kernel
def pack_pairs(w, panels, transposed, p0=0, p1=-1):
    """panels[p0:p1] (P, K2, 16) uint32 (p1 -1: all) = the pairs of op(w)
    (K, N), op(w) = w.T if transposed; rows of op(w) past K and columns past
    N are zero.  w float32."""
    K, N = (w.shape[1], w.shape[0]) if transposed else w.shape
    p1 = panels.shape[0] if p1 < 0 else p1
    sixteen = np.uint32(16)
    for p in range(p0, p1):
        n0 = COLUMNS * p
        if n0 + COLUMNS > N or 2 * panels.shape[1] != padded(K) or K % 2:
            _pack_edge(w, panels, transposed, p, K, N)
            continue
        for k2 in range(K // 2):
            out = panels[p, k2]
            if transposed:
                for j in range(COLUMNS):
                    row = w[n0 + j]
                    out[j] = _rounded(row[2 * k2]) | (_rounded(row[2 * k2 + 1]) << sixteen)
            else:
                low, high = w[2 * k2, n0 : n0 + COLUMNS], w[2 * k2 + 1, n0 : n0 + COLUMNS]
                for j in range(COLUMNS):
                    out[j] = _rounded(low[j]) | (_rounded(high[j]) << sixteen)
        panels[p, K // 2 :] = 0


@kernel
def _pack_edge(w, panels, transposed, p, K, N):
    """Panel p of pack_pairs where op(w) ends inside it (zeros past K and N)."""
    for k2 in range(panels.shape[1]):
        out = panels[p, k2]
        for j in range(COLUMNS):
            n, pair = COLUMNS * p + j, np.uint32(0)
            for half in range(2):
                k = 2 * k2 + half
                if k < K and n < N:
                    value = w[n, k] if transposed else w[k, n]
                    pair |= _rounded(value) << np.uint32(16 * half)
            out[j] = pair


@parallel_kernel
def _gemm(a, b, c, trans_a, trans_b, accumulate, a_bits, panels, blocks):
    """c (+)= op(a) @ op(b) through a_bits and panels, each step shared by
    ``blocks`` threads: rounding a, packing b, then columns of c."""
    for s in prange(blocks):
        lo, hi = block_bounds(s, blocks, a_bits.shape[0])
        to_bfloat16(a, a_bits, trans_a, lo, hi)
    for s in prange(blocks):
        lo, hi = block_bounds(s, blocks, panels.shape[0] // 2)
        pack_pairs(b, panels, trans_b, 2 * lo, 2 * hi)
    for s in prange(blocks):
        lo, hi = block_bounds(s, blocks, panels.shape[0] // 2)
        product(a_bits, panels, c, 2 * lo, 2 * hi, accumulate)


def bfloat16_gemm(a, b, c, trans_a, trans_b, beta, blocks, ws):
    """c = op(a) @ op(b) + beta * c (beta 0 or 1) with bfloat16 operands on
    AMX, as blas.split_gemm does in float32; scratch from the Workspace ws.
    a, b, c float32 with contiguous rows (c may be a slice of columns)."""
    M, N = c.shape
    K = a.shape[0] if trans_a else a.shape[1]
    a_bits = ws.take("amx a", (M, padded(K)), np.uint16)
    panels = ws.take("amx panels", panels_shape(K, N), np.uint32)
    if N % BLOCK == 0:
        _gemm(a, b, c, trans_a, trans_b, beta != 0, a_bits, panels, blocks)
        return
    wide = ws.take("amx c", (M, 16 * panels.shape[0]), np.float32)
    _gemm(a, b, wide, trans_a, trans_b, False, a_bits, panels, blocks)
    if beta != 0:
        c += wide[:, :N]
    else:
        c[:] = wide[:, :N]
