"""The histories as one structured array: the checkpoint's arrays come back
bit for bit, through any number of rows and through a saved file."""

import numpy as np

from charrnn.checkpoint import Checkpoint, load, save
from charrnn.training.history import FIRST_CAPACITY, ROW, History


def empty_checkpoint(model_ckpt):
    """A checkpoint like ``model_ckpt`` with no histories."""
    return Checkpoint(
        model=model_ckpt.model,
        vocab=model_ckpt.vocab,
        params=model_ckpt.params,
        optimizer=model_ckpt.optimizer,
        optimizer_state=model_ckpt.optimizer_state,
    )


HISTORY_ARRAYS = (
    "train_history",
    "train_seconds",
    "train_chars",
    "val_history",
    "val_seconds",
    "val_chars",
)


def assert_same_histories(a, b):
    for name in HISTORY_ARRAYS:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype == np.float64 and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name  # NaN included


def test_a_trained_runs_histories_come_back_bit_for_bit(trained, tmp_path):
    out, _ = trained
    ckpt = load(str(out / "last.npz"))
    assert len(ckpt.train_history) == 30 and len(ckpt.val_history) == 2
    copy = empty_checkpoint(ckpt)
    for name in ("train", "val"):
        History.from_checkpoint(ckpt, name).to_checkpoint(copy, name)
    assert_same_histories(copy, ckpt)
    save(str(tmp_path / "copy.npz"), copy)
    assert_same_histories(load(str(tmp_path / "copy.npz")), ckpt)


def test_appended_rows_past_the_first_capacity_reach_the_file(trained, tmp_path):
    _, ckpt = trained
    rng = np.random.default_rng(0)
    rows = [
        (step, float(rng.random() * 4), float(step) / 7, 64 * step)
        for step in range(1, 2 * FIRST_CAPACITY + 5)
    ]
    history = History.from_checkpoint(
        Checkpoint(model=ckpt.model, vocab=ckpt.vocab, params=ckpt.params), "train"
    )
    for row in rows:
        history.append(*row)
    assert len(history) == len(rows) and history.rows.dtype == ROW
    assert tuple(history.last()) == rows[-1]
    written = empty_checkpoint(ckpt)
    history.to_checkpoint(written, "train")
    save(str(tmp_path / "c.npz"), written)
    back = load(str(tmp_path / "c.npz"))
    # as the list of tuples the loop kept before: (step, loss, seconds, chars) rows of float64
    table = np.array(rows, np.float64)
    assert back.train_history.tobytes() == np.ascontiguousarray(table[:, :2]).tobytes()
    assert back.train_seconds.tobytes() == table[:, 2].tobytes()
    assert back.train_chars.tobytes() == table[:, 3].tobytes()


def test_version_1_rows_keep_their_unknown_times(trained):
    """Rows of a version-1 file have NaN seconds and characters; they stay NaN."""
    _, ckpt = trained
    old = Checkpoint(
        model=ckpt.model,
        vocab=ckpt.vocab,
        params=ckpt.params,
        val_history=np.array([[15.0, 3.25], [30.0, 3.0]]),
    )
    history = History.from_checkpoint(old, "val")
    history.append(45, 2.75, 12.5, 2880)
    new = empty_checkpoint(ckpt)
    history.to_checkpoint(new, "val")
    assert np.isnan(new.val_seconds[:2]).all() and np.isnan(new.val_chars[:2]).all()
    assert new.val_seconds[2] == 12.5 and new.val_chars[2] == 2880
    np.testing.assert_array_equal(new.val_history, [[15, 3.25], [30, 3.0], [45, 2.75]])


def test_the_mean_loss_since_a_step_is_the_lists(trained):
    """What a validation event reports as train_loss: the mean of the losses after
    the last validation, summed as np.mean summed the list the loop kept before."""
    _, ckpt = trained
    history = History.from_checkpoint(ckpt, "train")
    losses = [float(loss) for step, loss in ckpt.train_history if step > 15]
    assert history.mean_loss_after(15) == float(np.mean(losses))
    assert history.mean_loss_after(30) is None
