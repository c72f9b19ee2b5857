"""A register tile on AVX512_BF16's dot-product instruction, for bench/units.py.

The float32 tile of kernels/tiles.py with each fused multiply-add replaced by
VDPBF16PS (llvm.x86.avx512bf16.dpbf16ps.512): 16 float32 lanes, each adding
two bfloat16 products.  a is bfloat16 pairs (M, K/2) uint32, the panels are
amx.pack_pairs' (16 columns each; two make a 32-column tile).  Rows in tiles
of 12, so M must be a multiple of 12.  Only a measurement: charrnn trains on
AMX where it has it and in float32 elsewhere.
"""

import llvmlite.binding as llvm
from llvmlite import ir
from llvmlite.ir import types as ir_types
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

HAS_DOT = bool(llvm.get_host_cpu_features().get("avx512bf16"))
ROWS = 12


class _BFloat(ir_types._BaseFloatType):
    null = "0.0"
    intrinsic_name = "bf16"

    def __str__(self):
        return "bfloat"


_BFloat._create_instance()


@intrinsic
def _tile(typingctx, a, panels, c, r0, p0):
    sig = types.void(a, panels, c, r0, p0)

    def codegen(context, builder, sig, args):
        a_arg, p_arg, c_arg, r0, p0 = args
        A = context.make_array(sig.args[0])(context, builder, a_arg)
        P = context.make_array(sig.args[1])(context, builder, p_arg)
        C = context.make_array(sig.args[2])(context, builder, c_arg)
        i64, i32 = ir.IntType(64), ir.IntType(32)
        vf, vi = ir.VectorType(ir.FloatType(), 16), ir.VectorType(i32, 16)
        vb = ir.VectorType(_BFloat(), 32)

        def const(n):
            return ir.Constant(i64, n)

        dot = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vf, [vf, vb, vb]), "llvm.x86.avx512bf16.dpbf16ps.512"
        )
        K2 = cgutils.unpack_tuple(builder, P.shape, 3)[1]
        lda = builder.sdiv(cgutils.unpack_tuple(builder, A.strides, 2)[0], const(4))
        ldc = builder.sdiv(cgutils.unpack_tuple(builder, C.strides, 2)[0], const(4))
        panel = [
            builder.gep(
                P.data, [builder.mul(builder.mul(builder.add(p0, const(v)), K2), const(16))]
            )
            for v in range(2)
        ]
        a_rows = [
            builder.gep(A.data, [builder.mul(builder.add(r0, const(r)), lda)]) for r in range(ROWS)
        ]
        c_at = [
            [
                builder.bitcast(
                    builder.gep(
                        C.data,
                        [
                            builder.add(
                                builder.mul(builder.add(r0, const(r)), ldc),
                                builder.mul(builder.add(p0, const(v)), const(16)),
                            )
                        ],
                    ),
                    vf.as_pointer(),
                )
                for v in range(2)
            ]
            for r in range(ROWS)
        ]
        acc = []
        for r in range(ROWS):
            for v in range(2):
                slot = cgutils.alloca_once(builder, vf)
                builder.store(ir.Constant(vf, [0.0] * 16), slot)
                acc.append(slot)
        splat = ir.Constant(vi, [0] * 16)
        with cgutils.for_range(builder, K2) as loop:
            w = [
                builder.bitcast(
                    builder.load(
                        builder.bitcast(
                            builder.gep(panel[v], [builder.mul(loop.index, const(16))]),
                            vi.as_pointer(),
                        ),
                        align=4,
                    ),
                    vb,
                )
                for v in range(2)
            ]
            for r in range(ROWS):
                pair = builder.load(builder.gep(a_rows[r], [loop.index]))
                one = builder.insert_element(
                    ir.Constant(vi, ir.Undefined), pair, ir.Constant(i32, 0)
                )
                wide = builder.bitcast(
                    builder.shuffle_vector(one, ir.Constant(vi, ir.Undefined), splat), vb
                )
                for v in range(2):
                    slot = acc[2 * r + v]
                    builder.store(builder.call(dot, [builder.load(slot), wide, w[v]]), slot)
        for r in range(ROWS):
            for v in range(2):
                builder.store(builder.load(acc[2 * r + v]), c_at[r][v], align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=False)
def dot_product(a, panels, c):
    """c = a @ (the panels' columns), a (M, K/2) bfloat16 pairs, M a multiple of 12."""
    for p in range(0, panels.shape[0], 2):
        for r0 in range(0, a.shape[0], ROWS):
            _tile(a, panels, c, r0, p)
