"""Every cell through the commands: it learns, resumes bit for bit, samples,
evaluates; the cell is part of the model (checkpoint, --resume)."""

import math
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn.cells import CELLS
from charrnn.checkpoint import load
from charrnn.cli import main

SMALL = [
    "--hidden",
    "32",
    "--layers",
    "2",
    "--batch-size",
    "8",
    "--seq-length",
    "32",
    "--val-frac",
    "0.1",
    "--quiet",
    "--seed",
    "2",
]


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def unigram_entropy(text):
    counts = np.array(list(Counter(text).values()), np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


@pytest.mark.parametrize("cell", list(CELLS))
def test_every_cell_learns_samples_and_evaluates(cell, tmp_path, corpus_file, text):
    run(
        "train",
        corpus_file,
        "--cell",
        cell,
        "--max-steps",
        150,
        "--eval-every",
        75,
        "--lr",
        "1e-2",
        "--out",
        tmp_path,
        *SMALL,
    )
    ckpt = load(str(tmp_path / "best.npz"))
    assert ckpt.model.cell == cell and ckpt.train_config["cell"] == cell
    # Better than knowing only how often each character occurs.
    assert ckpt.best_val < 0.8 * unigram_entropy(text), ckpt.val_history
    sample = run(
        "sample", tmp_path / "best.npz", "--length", 200, "--seed", 1, "--temperature", 0.5
    ).stdout
    assert len(sample) == 201 and set(sample) <= set(text)
    beam = run("sample", tmp_path / "best.npz", "--beam", 3, "--length", 40).stdout
    assert (
        run("sample", tmp_path / "best.npz", "--beam", 1, "--length", 40).stdout
        == run("sample", tmp_path / "best.npz", "--greedy", "--length", 40).stdout
    )
    assert len(beam) == 41
    report = run("eval", tmp_path / "best.npz", corpus_file, "--json").stdout
    assert '"loss"' in report


def test_the_minimal_rnn_of_the_lectures_learns(tmp_path, corpus_file, text):
    """min-char-rnn: one layer of 100 units, 25 steps, Adagrad at 0.1."""
    run(
        "train",
        corpus_file,
        "--cell",
        "rnn",
        "--layers",
        1,
        "--hidden",
        100,
        "--seq-length",
        25,
        "--optimizer",
        "adagrad",
        "--lr",
        0.1,
        "--max-steps",
        300,
        "--eval-every",
        100,
        "--quiet",
        "--out",
        tmp_path,
    )
    ckpt = load(str(tmp_path / "last.npz"))
    uniform = math.log(len(set(text)))
    first, last = ckpt.train_history[0, 1], ckpt.train_history[-10:, 1].mean()
    assert first == pytest.approx(uniform, abs=0.1)  # it starts knowing nothing ...
    assert last < 0.5 * uniform and ckpt.val_history[-1, 1] < 0.6 * uniform  # ... and learns


@pytest.mark.parametrize("cell", list(CELLS))
def test_stopped_and_resumed_equals_straight_for_every_cell(cell, tmp_path, corpus_file):
    # a constant rate: the budget's would change with --max-steps (test_schedule
    # resumes across a budget)
    args = ["--cell", cell, "--eval-every", 5, "--dropout", "0.2", "--schedule", "constant", *SMALL]
    run("train", corpus_file, "--max-steps", 15, "--out", tmp_path / "straight", *args)
    run("train", corpus_file, "--max-steps", 10, "--out", tmp_path / "resumed", *args)
    run("train", corpus_file, "--max-steps", 15, "--out", tmp_path / "resumed", "--resume")
    a, b = (load(str(tmp_path / name / "last.npz")) for name in ("straight", "resumed"))
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.state, b.state)
    np.testing.assert_array_equal(a.val_history, b.val_history)


def test_a_resume_with_another_cell_is_refused(tmp_path, corpus_file):
    run("train", corpus_file, "--cell", "gru", "--max-steps", 3, "--out", tmp_path, *SMALL)
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(corpus_file),
            "--out",
            str(tmp_path),
            "--resume",
            "--cell",
            "lstm",
            "--max-steps",
            6,
        ],
    )
    assert result.exit_code == 1 and "--cell lstm (the run used gru)" in result.output
    run("train", corpus_file, "--out", tmp_path, "--resume", "--max-steps", 6)  # gru, from it
    assert load(str(tmp_path / "last.npz")).model.cell == "gru"


def test_an_unknown_cell_is_a_clear_error(tmp_path, corpus_file):
    result = CliRunner().invoke(main, ["train", str(corpus_file), "--cell", "lstm2"])
    assert result.exit_code == 2 and "'lstm2' is not one of" in result.output
