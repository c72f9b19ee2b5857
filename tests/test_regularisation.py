"""Weight decay and variational dropout reach training from the command line."""
import numpy as np
from click.testing import CliRunner

from charrnn.checkpoint import load
from charrnn.cli import main

ARGS = ["--hidden", "16", "--batch-size", "4", "--seq-length", "16", "--max-steps", "20",
        "--quiet", "--seed", "2", "--keep", "0", "--schedule", "constant"]


def trained(corpus, out, *extra):
    result = CliRunner().invoke(main, ["train", str(corpus), "--out", str(out)] + ARGS
                                + list(extra))
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
    result = CliRunner().invoke(main, ["train", str(corpus_file), "--out", str(tmp_path)] + ARGS
                                + ["--optimizer", "sgd", "--weight-decay", "0.1"])
    assert result.exit_code == 1 and "--weight-decay is Adam's" in result.output
