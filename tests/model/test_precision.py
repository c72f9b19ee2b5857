"""Generation's reduced-precision weights: the rounding against its
definition, the widened tiles against NumPy, generation against the
float32 model of the rounded weights (the one eval scores), the commands,
and the other machine type's tile path."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn import cells
from charrnn.checkpoint import Checkpoint, save
from charrnn.cli import main
from charrnn.data.corpus import Vocabulary
from charrnn.decode import generation_weights, model_step, rounded_params, scratch
from charrnn.evaluate import stream_loss
from charrnn.kernels.rows import add_product, packed, packed_columns
from charrnn.kernels.tiles import MR, TILES
from charrnn.model import ModelConfig, init_params, zero_state
from charrnn.precision import (
    AUTO_INT8_PARAMS,
    PRECISIONS,
    bfloat16_bits,
    from_bfloat16,
    int8_columns,
    resolve,
    round_trip,
)

CELLS = list(cells.CELLS)


def test_bfloat16_rounds_to_nearest_ties_to_even():
    bits = np.array(
        [
            0x3F800000,
            0x3F808000,
            0x3F818000,
            0x3F808001,
            0x3F807FFF,
            0xC0490FDB,
            0x00000000,
            0x7F7FFFFF,
        ],
        np.uint32,
    )
    # 1.0; a tie below an even top half (down); a tie below an odd one (up);
    # just above a tie (up); just below (down); -pi; 0; the largest float
    # (rounds to infinity's bits, as a float32 -> bfloat16 conversion does).
    expected = [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0xC049, 0x0000, 0x7F80]
    assert bfloat16_bits(bits.view(np.float32)).tolist() == expected
    assert from_bfloat16(np.array([0x3F80], np.uint16))[0] == 1.0


def test_bfloat16_error_is_within_half_a_unit(rng):
    w = (rng.standard_normal(10_000) * 10.0 ** rng.integers(-5, 5, 10_000)).astype(np.float32)
    back = round_trip(w.reshape(100, 100), "bfloat16").ravel()
    # 8 significant bits kept: a relative error of at most 2^-8, and some at it
    error = np.abs(back.astype(np.float64) - w) / np.abs(w)
    assert error.max() <= 2.0**-8 and error.max() > 2.0**-9


def test_int8_scales_per_column(rng):
    w = rng.standard_normal((50, 6)).astype(np.float32) * np.array(
        [1, 10, 0.01, 3, 0, 1e4], np.float32
    )
    q, scales = int8_columns(w)
    assert q.dtype == np.int8 and scales.dtype == np.float32
    assert np.all(np.abs(q).max(axis=0)[[0, 1, 2, 3, 5]] == 127) and np.all(q[:, 4] == 0)
    assert scales[4] == 1.0  # a zero column
    assert np.all(np.abs(q * scales - w) <= scales / 2 * (1 + 1e-6))
    np.testing.assert_array_equal(round_trip(w, "int8"), q.astype(np.float32) * scales)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(
    "K,D,N",
    [
        (1, 5, 9),
        (2, 16, 8),
        (3, 37, 50),
        (MR + 1, 64, 256),
        (7, 300, 1025),
        (1, 512, 2048),
        (25, 33, 64),
    ],
)
def test_add_product_in_every_precision_matches_numpy(precision, K, D, N, rng):
    x = rng.standard_normal((K, D)).astype(np.float32)
    w = rng.standard_normal((D, N)).astype(np.float32)
    out = rng.standard_normal((K, packed_columns(N))).astype(np.float32)
    expected = out[:, :N] + x.astype(np.float64) @ round_trip(w, precision).astype(np.float64)
    weights = packed(w, precision)
    assert weights.panels.itemsize == {"float32": 4, "bfloat16": 2, "int8": 1}[precision]
    add_product(x, weights, out)  # the big ones are split among threads
    np.testing.assert_allclose(out[:, :N], expected, rtol=1e-5, atol=2e-6 * D)


def random_model(rng, cell, hidden=64, layers=3, vocab=7):
    cfg = ModelConfig(vocab_size=vocab, hidden=hidden, layers=layers, cell=cell)
    return cfg, init_params(cfg, rng) * np.float32(2.0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_generation_runs_the_model_that_eval_scores(cell, precision, rng):
    """Stepping with reduced weights == stepping in float32 with the rounded
    parameters (what eval --precision scores), for every cell; and the
    rounding changed the model (so the comparison means something)."""
    cfg, params = random_model(rng, cell)
    rounded = rounded_params(params, cfg, precision)
    assert not np.array_equal(rounded, params)
    ids = rng.integers(0, cfg.vocab_size, (12, 2)).astype(np.int64)
    results = []
    for weights in (
        generation_weights(params, cfg, precision),
        generation_weights(rounded, cfg, "float32"),
    ):
        state = zero_state(cfg, 2)
        work, logits = scratch(weights, 2)
        for t in range(len(ids)):
            model_step(weights, ids[t], state, work, logits)
        results.append((state, logits[:, : cfg.vocab_size].copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], atol=2e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], atol=2e-4)


def test_rounding_leaves_looked_up_rows_and_biases(rng):
    cfg, params = random_model(rng, "lstm", hidden=32, layers=2)
    from charrnn.model import views

    before, after = views(params, cfg), views(rounded_params(params, cfg, "int8"), cfg)
    np.testing.assert_array_equal(after["w0"][: cfg.vocab_size], before["w0"][: cfg.vocab_size])
    for name in ("b0", "b1", "b_y"):
        np.testing.assert_array_equal(after[name], before[name])
    for name, rows in (
        ("w0", slice(cfg.vocab_size, None)),
        ("w1", slice(None)),
        ("w_y", slice(None)),
    ):
        assert not np.array_equal(after[name][rows], before[name][rows])


def test_auto_is_int8_from_a_fixed_size():
    assert resolve("auto", AUTO_INT8_PARAMS - 1) == "float32"
    assert resolve("auto", AUTO_INT8_PARAMS) == "int8"
    assert resolve("bfloat16", 10) == "bfloat16"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    chars = "abcdefgh \n"
    cfg = ModelConfig(vocab_size=len(chars), hidden=64, layers=2)
    ckpt = Checkpoint(
        model=cfg, vocab=Vocabulary(chars), params=init_params(cfg, rng) * np.float32(3.0)
    )
    path = tmp_path_factory.mktemp("model") / "model.npz"
    save(str(path), ckpt)
    text = tmp_path_factory.mktemp("text") / "text.txt"
    text.write_text("".join(rng.choice(list(chars), 3000)))
    return path, text, ckpt


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout  # JSON; messages (a compile) go to stderr


def test_eval_scores_the_rounded_model(model_file):
    path, text, ckpt = model_file
    reports = {
        p: json.loads(run("eval", path, text, "--precision", p, "--json"))
        for p in ("auto", *PRECISIONS)
    }
    assert reports["auto"]["precision"] == "float32"  # a small model
    assert reports["auto"]["loss"] == reports["float32"]["loss"]
    ids = ckpt.vocab.encode(text.read_text())
    for p in PRECISIONS:
        assert reports[p]["precision"] == p
        total, count = stream_loss(rounded_params(ckpt.params, ckpt.model, p), ckpt.model, ids)
        assert reports[p]["loss"] == pytest.approx(total / count, rel=1e-6)
    assert reports["int8"]["loss"] != reports["float32"]["loss"]


def test_sample_reports_its_precision_and_is_reproducible(model_file):
    path, _, _ = model_file
    for p in PRECISIONS:
        first = json.loads(run("sample", path, "--seed", 4, "-n", 300, "--precision", p, "--json"))
        again = json.loads(run("sample", path, "--seed", 4, "-n", 300, "--precision", p, "--json"))
        assert first["precision"] == p and first["text"] == again["text"]
        beam = json.loads(run("sample", path, "--beam", 3, "-n", 40, "--precision", p, "--json"))
        assert beam["precision"] == p and len(beam["text"]) == 40


def test_bad_precision_is_a_one_line_error(model_file):
    path, _, _ = model_file
    result = CliRunner().invoke(main, ["sample", str(path), "--precision", "int4"])
    assert result.exit_code == 2 and "Invalid value for '--precision'" in result.output
    assert "Traceback" not in result.output


OTHER_TILES = {"avx512": "avx2", "avx2": "avx512", "vec4": "avx2"}[TILES]
SCRIPT = r"""
import json, sys
import numpy as np
from charrnn.checkpoint import load
from charrnn.kernels.rows import add_product, packed, packed_columns
from charrnn.kernels.tiles import TILES, VEC
from charrnn.precision import round_trip
from charrnn.sample import beam_text, sample_text
rng = np.random.default_rng(0)
worst = 0.0
for K, D, N in [(1, 37, 50), (7, 64, 200), (13, 300, 1025)]:
    x = rng.standard_normal((K, D)).astype(np.float32)
    w = rng.standard_normal((D, N)).astype(np.float32)
    for p in ("float32", "bfloat16", "int8"):
        out = np.zeros((K, packed_columns(N)), np.float32)
        add_product(x, packed(w, p), out)
        expected = x.astype(np.float64) @ round_trip(w, p).astype(np.float64)
        worst = max(worst, float(np.abs(out[:, :N] - expected).max() / np.abs(expected).max()))
ckpt = load(sys.argv[1])
texts = {p: ["".join(sample_text(ckpt, 200, seed=3, precision=p)),
             beam_text(ckpt, 30, 5, precision=p)[0]] for p in ("float32", "bfloat16", "int8")}
print(json.dumps({"tiles": TILES, "vec": VEC, "worst": worst, "texts": texts}))
"""


def test_the_other_machine_types_tile_path(model_file):
    """The tile shape of the other machine type (AVX2's 8-float vectors
    here on AVX-512, or the reverse), forced: products in every precision
    match NumPy, and generation writes the same text as the native path
    (each column's sum runs over k in the same order whatever the tile)."""
    path, _, _ = model_file
    results = {}
    for tiles in (TILES, OTHER_TILES):
        env = {**os.environ, "CHARRNN_TILES": tiles}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        results[tiles] = json.loads(done.stdout.strip().splitlines()[-1])
    assert results[OTHER_TILES]["tiles"] == OTHER_TILES
    assert results[OTHER_TILES]["vec"] != results[TILES]["vec"]
    for r in results.values():
        assert r["worst"] < 1e-5
    assert results[OTHER_TILES]["texts"] == results[TILES]["texts"]


def test_bad_forced_tiles_is_refused():
    env = {**os.environ, "CHARRNN_TILES": "sse9"}
    done = subprocess.run(
        [sys.executable, "-c", "import charrnn.kernels.tiles"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "CHARRNN_TILES must be avx512, avx2 or vec4" in done.stderr
