"""AMX's bfloat16 products against NumPy on the same operands rounded to
bfloat16 (float64 sums): every shape of the block edges, accumulate or not,
w or its transpose, a range of columns."""

import os
import subprocess
import sys

import numpy as np
import pytest

from charrnn.kernels import amx
from charrnn.precision import bfloat16_bits, from_bfloat16

needs_amx = pytest.mark.skipif(not amx.AVAILABLE, reason="this CPU or OS offers no AMX tiles")


def rounded(x):
    return from_bfloat16(bfloat16_bits(x)).astype(np.float64)


def test_to_bfloat16_rounds_as_numpy_does_and_pads_with_zeros(rng):
    x = rng.standard_normal((5, 37)).astype(np.float32) * np.float32(1e3)
    x[0, :4] = [np.inf, -np.inf, 0.0, -0.0]
    x[1, :3] = np.array([0x3F808000, 0x3F818000, 0x3F80FFFF], np.uint32).view(np.float32)  # ties
    out = np.full((5, amx.padded(37)), 7, np.uint16)
    amx.to_bfloat16(x, out)
    assert np.array_equal(out[:, :37], bfloat16_bits(x))
    assert not out[:, 37:].any()


@pytest.mark.parametrize("transposed", [False, True])
def test_pack_pairs_holds_the_pairs_of_op_w(rng, transposed):
    k, n = 37, 64
    w = rng.standard_normal((n, k) if transposed else (k, n)).astype(np.float32)
    panels = np.full(amx.panels_shape(k, n), 9, np.uint32)
    amx.pack_pairs(w, panels, transposed)
    op = bfloat16_bits(w.T if transposed else w).astype(np.uint32)
    op = np.vstack([op, np.zeros((2 * panels.shape[1] - k, n), np.uint32)])
    pairs = op[0::2] | (op[1::2] << 16)  # (K2, n)
    assert np.array_equal(panels, pairs.reshape(-1, n // 16, 16).transpose(1, 0, 2))


@needs_amx
@pytest.mark.parametrize("m", [1, 15, 16, 17, 31, 32, 33, 50, 64, 100])
@pytest.mark.parametrize("accumulate", [True, False])
def test_product_against_numpy_on_rounded_operands(rng, m, accumulate):
    k, n = 72, 96  # K not a multiple of 32: the last step is padded
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    a_bits = np.empty((m, amx.padded(k)), np.uint16)
    amx.to_bfloat16(a, a_bits)
    panels = np.empty(amx.panels_shape(k, n), np.uint32)
    amx.pack_pairs(w, panels, False)
    c = c0.copy()
    amx.product(a_bits, panels, c, 0, n // 16, accumulate)
    expected = rounded(a) @ rounded(w) + (c0 if accumulate else 0)
    # float32 sums of k products: a few float32 roundings of the sum's size
    bound = 8 * k * np.finfo(np.float32).eps * (np.abs(rounded(a)) @ np.abs(rounded(w)) + 1)
    assert np.all(np.abs(c - expected) <= bound)


@needs_amx
def test_product_of_a_transpose_in_a_range_of_columns_leaves_the_others(rng):
    m, k, n = 40, 512, 128
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)  # the product is a @ w.T
    a_bits = np.empty((m, amx.padded(k)), np.uint16)
    amx.to_bfloat16(a, a_bits)
    panels = np.empty(amx.panels_shape(k, n), np.uint32)
    amx.pack_pairs(w, panels, True)
    c = np.full((m, n), 3.0, np.float32)
    amx.product(a_bits, panels, c, 2, 6, False)  # columns 32..95
    expected = rounded(a) @ rounded(w).T
    assert np.allclose(c[:, 32:96], expected[:, 32:96], rtol=1e-4, atol=1e-3)
    assert (c[:, :32] == 3.0).all() and (c[:, 96:] == 3.0).all()


def test_charrnn_amx_0_turns_amx_off():
    code = "from charrnn.kernels import amx; print(amx.AVAILABLE)"
    env = {**os.environ, "CHARRNN_AMX": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


@needs_amx
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("n,beta", [(96, 0.0), (65, 0.0), (65, 1.0), (64, 1.0)])
def test_gemm_is_blas_split_gemm_in_bfloat16(rng, trans_a, trans_b, n, beta):
    """Training's chunk-wide products: every transpose, widths that are not
    whole blocks (the decoder's vocabulary), added to c or written over it,
    into a slice of columns as the gated cells' weight gradients are."""
    from charrnn.kernels.buffers import Workspace

    m, k = 70, 45
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    whole = rng.standard_normal((m, n + 7)).astype(np.float32)
    c = whole[:, 3 : 3 + n]
    before = whole.copy()
    amx.bfloat16_gemm(a, b, c, trans_a, trans_b, beta, 2, Workspace("bfloat16"))
    op_a, op_b = (rounded(a.T if trans_a else a), rounded(b.T if trans_b else b))
    expected = op_a @ op_b + beta * before[:, 3 : 3 + n]
    bound = 8 * k * np.finfo(np.float32).eps * (np.abs(op_a) @ np.abs(op_b) + beta + 1)
    assert np.all(np.abs(c - expected) <= bound)
    assert np.array_equal(whole[:, :3], before[:, :3]) and np.array_equal(
        whole[:, 3 + n :], before[:, 3 + n :]
    )
