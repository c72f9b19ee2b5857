"""--resume continues exactly; a resume that would change the model or data is refused."""

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn.checkpoint import load
from charrnn.cli import main

ARGS = [
    "--hidden",
    "12",
    "--layers",
    "2",
    "--batch-size",
    "8",
    "--seq-length",
    "50",
    "--eval-every",
    "4",
    "--quiet",
    "--seed",
    "5",
    "--dropout",
    "0.25",
    "--lr-decay",
    "0.9",
    "--val-frac",
    "0.1",
    "--reset-rate",
    "0.25",
]


def train(corpus, out, *extra):
    result = CliRunner().invoke(
        main, ["train", str(corpus), "--out", str(out)] + ARGS + list(extra)
    )
    return result


@pytest.fixture(scope="module")
def straight(tmp_path_factory, corpus_file):
    """A run of 40 steps in one go (an epoch is 14 steps: epochs end, lr decays)."""
    out = tmp_path_factory.mktemp("straight")
    assert train(corpus_file, out, "--max-steps", "40").exit_code == 0
    return load(str(out / "last.npz"))


def assert_same_run(a, b):
    np.testing.assert_array_equal(a.params, b.params)
    for key in a.optimizer_state:
        np.testing.assert_array_equal(a.optimizer_state[key], b.optimizer_state[key])
    np.testing.assert_array_equal(a.train_history, b.train_history)
    np.testing.assert_array_equal(a.val_history, b.val_history)
    np.testing.assert_array_equal(a.state, b.state)
    np.testing.assert_array_equal(a.train_chars, b.train_chars)
    assert a.chars == b.chars
    assert (a.step, a.epoch, a.batch_index, a.lr, a.rng_state) == (
        b.step,
        b.epoch,
        b.batch_index,
        b.lr,
        b.rng_state,
    )


@pytest.mark.parametrize("first", [20, 28])
def test_stopped_and_resumed_equals_straight(tmp_path, corpus_file, straight, first):
    assert straight.epoch == 2 and straight.batch_index == 12
    assert train(corpus_file, tmp_path, "--max-steps", str(first)).exit_code == 0
    assert load(str(tmp_path / "last.npz")).step == first
    result = train(corpus_file, tmp_path, "--resume", "--max-steps", "40")
    assert result.exit_code == 0, result.output
    assert_same_run(load(str(tmp_path / "last.npz")), straight)


def test_resume_takes_options_from_the_checkpoint(tmp_path, corpus_file, straight):
    assert train(corpus_file, tmp_path, "--max-steps", "20").exit_code == 0
    result = CliRunner().invoke(
        main,
        [
            "train",
            str(corpus_file),
            "--out",
            str(tmp_path),
            "--resume",
            str(tmp_path / "last.npz"),
            "--max-steps",
            "40",
        ],
    )  # nothing else given
    assert result.exit_code == 0, result.output
    assert_same_run(load(str(tmp_path / "last.npz")), straight)


def test_changed_options_are_reported_or_refused(tmp_path, corpus_file):
    assert train(corpus_file, tmp_path, "--max-steps", "8").exit_code == 0
    result = train(corpus_file, tmp_path, "--resume", "--max-steps", "12", "--lr", "0.001")
    assert result.exit_code == 0
    assert load(str(tmp_path / "last.npz")).lr == 0.001
    for option, value, message in [
        ("--hidden", "16", "--hidden 16 (the run used 12)"),
        ("--batch-size", "4", "--batch-size 4 (the run used 8)"),
        ("--seq-length", "7", "--seq-length 7"),
    ]:
        result = train(corpus_file, tmp_path, "--resume", "--max-steps", "20", option, value)
        assert result.exit_code == 1 and message in result.output, result.output
    result = train(corpus_file, tmp_path, "--resume", "--max-steps", "12")
    assert result.exit_code == 1 and "already reaches --max-steps" in result.output


def test_resume_on_another_corpus_is_refused(tmp_path, corpus_file):
    assert train(corpus_file, tmp_path, "--max-steps", "4").exit_code == 0
    other = tmp_path / "other.txt"
    other.write_text(corpus_file.read_text()[::-1])
    result = CliRunner().invoke(
        main, ["train", str(other), "--out", str(tmp_path), "--resume", "--max-steps", "8"]
    )
    assert result.exit_code == 1 and "corpus differs" in result.output


def test_resume_without_a_checkpoint(tmp_path, corpus_file):
    result = train(corpus_file, tmp_path, "--resume")
    assert result.exit_code == 1 and "no such checkpoint" in result.output
