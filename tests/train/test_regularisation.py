"""Weight decay, variational dropout and state resets reach training from the command line."""

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn.checkpoint import load
from charrnn.cli import main
from charrnn.data.batches import StreamBatcher, split
from charrnn.data.corpus import load_corpus
from charrnn.model import forward, zero_state
from charrnn.train import reset_streams

ARGS = [
    "--hidden",
    "16",
    "--batch-size",
    "4",
    "--seq-length",
    "16",
    "--max-steps",
    "20",
    "--quiet",
    "--seed",
    "2",
    "--keep",
    "0",
    "--schedule",
    "constant",
]


def trained(corpus, out, *extra):
    result = CliRunner().invoke(
        main, ["train", str(corpus), "--out", str(out)] + ARGS + list(extra)
    )
    assert result.exit_code == 0, result.output
    return load(str(out / "last.npz"))


def test_weight_decay_shrinks_the_weights(tmp_path, corpus_file):
    plain = trained(corpus_file, tmp_path / "plain", "--lr", "0.01")
    decayed = trained(corpus_file, tmp_path / "decayed", "--lr", "0.01", "--weight-decay", "0.9")
    # 20 steps of shrinking by 1 - 0.01 * 0.9: about 0.83 of the size, give or take the steps
    ratio = np.linalg.norm(decayed.params) / np.linalg.norm(plain.params)
    assert 0.75 < ratio < 0.92
    assert decayed.train_config["weight_decay"] == 0.9


def test_variational_dropout_draws_other_masks_reproducibly(tmp_path, corpus_file):
    per_step = trained(corpus_file, tmp_path / "a", "--dropout", "0.3")
    shared = trained(corpus_file, tmp_path / "b", "--dropout", "0.3", "--variational")
    again = trained(corpus_file, tmp_path / "c", "--dropout", "0.3", "--variational")
    assert not np.array_equal(per_step.params, shared.params)
    np.testing.assert_array_equal(shared.params, again.params)


def test_weight_decay_needs_adam(tmp_path, corpus_file):
    result = CliRunner().invoke(
        main,
        ["train", str(corpus_file), "--out", str(tmp_path)]
        + ARGS
        + ["--optimizer", "sgd", "--weight-decay", "0.1"],
    )
    assert result.exit_code == 2 and "--weight-decay is Adam's" in result.output  # a usage error


def test_reset_streams_zeroes_whole_streams_at_the_rate(rng):
    state = rng.standard_normal((2, 2, 1000, 3)).astype(np.float32)
    before = state.copy()
    draws = np.random.default_rng(7)
    reset_streams(state, 0.1, draws)
    zeroed = ~state.any(axis=(0, 1, 3))
    assert 60 < zeroed.sum() < 140  # 100 expected
    np.testing.assert_array_equal(zeroed, np.random.default_rng(7).random(1000) < 0.1)
    np.testing.assert_array_equal(state[:, :, ~zeroed], before[:, :, ~zeroed])


def test_rate_zero_draws_nothing(rng):
    """Runs from before --reset-rate continue with the same dropout masks."""
    state = rng.standard_normal((1, 2, 8, 3))
    draws = np.random.default_rng(3)
    reset_streams(state, 0.0, draws)
    assert state.all() and draws.random() == np.random.default_rng(3).random()


@pytest.mark.parametrize("rate", ["0", "1"])
def test_the_second_step_starts_from_zero_or_carries_the_state(tmp_path, corpus_file, rate):
    """Step 2's loss is that of the weights after step 1 on the epoch's second batch, from
    the state step 1 ended in (--reset-rate 0) or from zeros (--reset-rate 1)."""
    args = ("--dropout", "0", "--reset-rate", rate, "--threads", "1", "--lr", "0.01")
    args += ("--precision", "float32")  # the loss below is float32's forward
    one = trained(corpus_file, tmp_path / "one", *args, "--max-steps", "1")
    two = trained(corpus_file, tmp_path / "two", *args, "--max-steps", "2")
    ids = load_corpus(str(corpus_file)).ids
    inputs, targets = StreamBatcher(split(ids, 0.05)[0], 4, 16)[1]
    state = zero_state(one.model, 4) if rate == "1" else one.state
    loss = forward(one.params, one.model, inputs, targets, state)[0] / inputs.size
    assert two.train_history[1][1] == pytest.approx(loss, rel=1e-5)
    assert two.train_config["reset_rate"] == float(rate)


def test_reset_rate_out_of_range_is_refused(tmp_path, corpus_file):
    result = CliRunner().invoke(
        main, ["train", str(corpus_file), "--out", str(tmp_path)] + ARGS + ["--reset-rate", "1.5"]
    )
    assert result.exit_code == 1 and "--reset-rate must be in [0, 1], not 1.5" in result.output
