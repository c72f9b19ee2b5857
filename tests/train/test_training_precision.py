"""train --precision: bfloat16 products where the CPU has AMX, recorded in
the checkpoint; resume exact within bfloat16; without AMX (forced off in a
subprocess) bfloat16 is said to train in float32, and a bfloat16 run's
resume is refused unless --precision float32 is given; int8 is generation's."""

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn.checkpoint import load
from charrnn.cli import main
from charrnn.kernels import amx

ARGS = ["--hidden", "32", "--batch-size", "8", "--seq-length", "20", "--eval-every", "5"]
ARGS += ["--val-frac", "0.1", "--seed", "3", "--quiet", "--lr-decay", "0.9"]  # per epoch: a
# schedule that does not depend on --max-steps, so that a resumed run can equal a straight one
needs_amx = pytest.mark.skipif(not amx.AVAILABLE, reason="this CPU or OS offers no AMX tiles")


def train(corpus, out, *extra):
    return CliRunner().invoke(main, ["train", str(corpus), "--out", str(out), *ARGS, *extra])


def train_without_amx(corpus, out, *extra):
    """train in a process that sees no AMX (CHARRNN_AMX=0)."""
    env = {**os.environ, "CHARRNN_AMX": "0"}
    command = [sys.executable, "-m", "charrnn", "train", str(corpus), "--out", str(out)]
    said = [a for a in ARGS if a != "--quiet"]  # its messages are looked at
    return subprocess.run([*command, *said, *extra], env=env, capture_output=True, text=True)


@needs_amx
def test_bfloat16_is_recorded_and_resumes_exactly(tmp_path, corpus_file):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert (
        train(corpus_file, straight, "--precision", "bfloat16", "--max-steps", "15").exit_code == 0
    )
    assert train(corpus_file, split, "--precision", "bfloat16", "--max-steps", "10").exit_code == 0
    resumed = train(corpus_file, split, "--resume", "--max-steps", "15")  # inherits bfloat16
    assert resumed.exit_code == 0, resumed.output
    a, b = load(str(straight / "last.npz")), load(str(split / "last.npz"))
    assert a.train_config["precision"] == b.train_config["precision"] == "bfloat16"
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.val_history, b.val_history)


@needs_amx
def test_bfloat16_trains_differently_from_float32_and_auto_picks_it(tmp_path, corpus_file):
    runs = {}
    for precision in ("float32", "bfloat16", "auto"):
        out = tmp_path / precision
        assert train(corpus_file, out, "--precision", precision, "--max-steps", "6").exit_code == 0
        runs[precision] = load(str(out / "last.npz"))
    assert runs["auto"].train_config["precision"] == "bfloat16"
    np.testing.assert_array_equal(runs["auto"].params, runs["bfloat16"].params)
    assert not np.array_equal(runs["float32"].params, runs["bfloat16"].params)
    # validation is float32's in both: close, not equal
    assert abs(runs["float32"].val_history[-1, 1] - runs["bfloat16"].val_history[-1, 1]) < 0.05


def test_without_amx_bfloat16_says_so_and_trains_in_float32(tmp_path, corpus_file):
    done = train_without_amx(
        corpus_file, tmp_path / "run", "--precision", "bfloat16", "--max-steps", "3"
    )
    assert done.returncode == 0, done.stderr
    assert "no AMX tiles" in done.stderr and "training in float32" in done.stderr
    assert load(str(tmp_path / "run" / "last.npz")).train_config["precision"] == "float32"


@needs_amx
def test_a_bfloat16_run_resumes_without_amx_only_in_float32(tmp_path, corpus_file):
    out = tmp_path / "run"
    assert train(corpus_file, out, "--precision", "bfloat16", "--max-steps", "4").exit_code == 0
    refused = train_without_amx(corpus_file, out, "--resume", "--max-steps", "8")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "Error: the run trained in bfloat16 on AMX tiles, which this machine does not "
        "offer; continue it in float32 with --precision float32"
    )
    assert load(str(out / "last.npz")).step == 4  # nothing lost
    done = train_without_amx(
        corpus_file, out, "--resume", "--max-steps", "8", "--precision", "float32"
    )
    assert done.returncode == 0, done.stderr
    assert "--precision bfloat16 -> float32" in done.stderr
    ckpt = load(str(out / "last.npz"))
    assert ckpt.step == 8 and ckpt.train_config["precision"] == "float32"


def test_int8_is_for_generation(tmp_path, corpus_file):
    result = train(corpus_file, tmp_path / "run", "--precision", "int8", "--max-steps", "2")
    assert result.exit_code == 1
    assert "--precision int8 is for sample and eval; train in float32 or bfloat16" in result.output
