"""The packed register-tile products against float64 NumPy, and the LSTM
kernels on the packed path against the BLAS path."""

import numba
import numpy as np
import pytest

from charrnn.cells import recurrence
from charrnn.cells.lstm import LSTMBackward, LSTMForward, LSTMReplay
from charrnn.kernels.buffers import aligned_empty
from charrnn.kernels.tiles import (
    MR,
    NO_SCALES,
    NR,
    pack_columns,
    pack_rows,
    packed_product,
    panels_for,
)


@pytest.mark.parametrize(
    "rows", [1, 2, 3, MR - 1, MR, MR + 1, 2 * MR, 2 * MR + 1, 2 * MR + 2, 2 * MR + 7, 50]
)
@pytest.mark.parametrize("accumulate", [True, False])
def test_packed_product_matches_numpy(rows, accumulate, rng):
    K, N = 37, 3 * NR
    a = rng.standard_normal((rows, K)).astype(np.float32)
    w = rng.standard_normal((K, N)).astype(np.float32)
    c = rng.standard_normal((rows, N)).astype(np.float32)
    expected = a.astype(np.float64) @ w + (c if accumulate else 0)
    panels = np.empty((N // NR, K, NR), np.float32)
    pack_columns(w, panels, 0, N // NR)
    packed_product(a, panels, NO_SCALES, 0, N // NR, c, accumulate)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)


def test_packed_product_writes_only_its_panels(rng):
    K, N = 16, 4 * NR
    a = rng.standard_normal((5, K)).astype(np.float32)
    w = rng.standard_normal((K, N)).astype(np.float32)
    panels = np.empty((4, K, NR), np.float32)
    pack_columns(w, panels, 0, 4)
    c = np.full((5, N), 7.0, np.float32)
    packed_product(a, panels, NO_SCALES, 1, 3, c, False)
    np.testing.assert_array_equal(c[:, :NR], 7.0)
    np.testing.assert_array_equal(c[:, 3 * NR :], 7.0)
    np.testing.assert_allclose(c[:, NR : 3 * NR], a @ w[:, NR : 3 * NR], rtol=1e-5, atol=1e-5)


def test_pack_rows_gives_the_transposed_product(rng):
    N, K = 2 * NR, 45
    w = rng.standard_normal((N, K)).astype(np.float32)  # the product is a @ w.T
    a = rng.standard_normal((9, K)).astype(np.float32)
    panels = np.empty((2, K, NR), np.float32)
    pack_rows(w, panels, 0, 2)
    c = np.zeros((9, N), np.float32)
    packed_product(a, panels, NO_SCALES, 0, 2, c, True)
    np.testing.assert_allclose(c, a @ w.T, rtol=1e-5, atol=1e-5)


def test_only_float32_with_whole_panels_is_packed():
    assert panels_for(np.zeros((NR, 4 * NR), np.float32), False).shape == (4, NR, NR)
    assert panels_for(np.zeros((NR, 4 * NR), np.float32), True).shape == (1, 4 * NR, NR)
    assert panels_for(np.zeros((NR, 4 * NR), np.float64), False).shape[0] == 0
    assert panels_for(np.zeros((NR + 1, 4 * NR + 4), np.float32), False).shape[0] == 0


def run_lstm(dtype, H, blocks, B, rng_seed=0):
    """Forward and backward of one layer; returns every output."""
    rng = np.random.default_rng(rng_seed)
    T, G = 6, 4 * H
    gates = aligned_empty((T, B, G), dtype)
    gates[:] = rng.standard_normal((T, B, G))
    cells, hiddens = aligned_empty((T + 1, B, H), dtype), aligned_empty((T + 1, B, H), dtype)
    cells[0], hiddens[0] = rng.standard_normal((2, B, H))
    w_h = (rng.standard_normal((H, G)) * 0.3).astype(dtype)
    bias = rng.standard_normal(G).astype(dtype)
    dh = rng.standard_normal((T, B, H)).astype(dtype)
    dh0, dc0, dbias = np.empty((B, H), dtype), np.empty((B, H), dtype), np.empty(G, dtype)
    numba.set_num_threads(min(blocks, numba.config.NUMBA_NUM_THREADS))
    recurrence.run_forward(
        LSTMForward(gates, cells, hiddens, w_h, bias, panels_for(w_h, False)), blocks
    )
    out = [hiddens.copy(), cells.copy()]
    recurrence.run_backward(
        LSTMBackward(gates, cells, dh, dh0, dc0, w_h, panels_for(w_h, True)), dbias, blocks
    )
    return out + [gates, dh0, dc0, dbias]


# 13 streams: threads split the streams; 3 streams (fewer than 2 per
# thread): threads split the hidden units.
@pytest.mark.parametrize("blocks,B", [(1, 13), (2, 13), (3, 13), (2, 3), (3, 3)])
def test_lstm_packed_path_matches_float64_blas_path(blocks, B):
    H = 2 * NR  # packable: float32 takes the tiles, float64 takes BLAS
    fast = run_lstm(np.float32, H, blocks, B)
    exact = run_lstm(np.float64, H, 1, B)
    for got, want in zip(fast, exact):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


def test_lstm_results_are_repeatable_for_a_block_count():
    first, second = run_lstm(np.float32, 2 * NR, 2, 13), run_lstm(np.float32, 2 * NR, 2, 13)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


# B=3 with 2 blocks: the recurrence splits the hidden units, replay the streams.
@pytest.mark.parametrize("blocks,B", [(1, 5), (2, 5), (2, 3)])
def test_replay_remakes_cells_and_hiddens_bit_for_bit(blocks, B, rng):
    T, H = 6, 2 * NR
    w_h = (rng.standard_normal((H, 4 * H)) * 0.3).astype(np.float32)
    bias = rng.standard_normal(4 * H).astype(np.float32)
    gates = rng.standard_normal((T, B, 4 * H)).astype(np.float32)
    cells = np.zeros((T + 1, B, H), np.float32)
    hiddens = np.zeros((T + 1, B, H), np.float32)
    cells[0], hiddens[0] = rng.standard_normal((2, B, H)).astype(np.float32)
    recurrence.run_forward(
        LSTMForward(gates, cells, hiddens, w_h, bias, panels_for(w_h, False)), blocks
    )
    cells2, hiddens2 = np.full_like(cells, np.nan), np.full_like(hiddens, np.nan)
    cells2[0], hiddens2[0] = cells[0], hiddens[0]
    recurrence.run_replay(LSTMReplay(gates, cells2, hiddens2, True), blocks)
    np.testing.assert_array_equal(cells2, cells)
    np.testing.assert_array_equal(hiddens2, hiddens)
    cells3, untouched = np.full_like(cells, np.nan), np.full_like(hiddens, 7.0)
    cells3[0] = cells[0]
    recurrence.run_replay(LSTMReplay(gates, cells3, untouched, False), blocks)
    np.testing.assert_array_equal(cells3, cells)
    np.testing.assert_array_equal(untouched, 7.0)
