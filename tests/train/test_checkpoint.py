import os

import numpy as np
import pytest

from charrnn import checkpoint
from charrnn.checkpoint import Checkpoint, load, save
from charrnn.runs import latest_best
from charrnn.data.corpus import Vocabulary
from charrnn.errors import CharrnnError
from charrnn.model import ModelConfig, init_params


@pytest.fixture
def ckpt(rng):
    cfg = ModelConfig(vocab_size=4, hidden=3, layers=2, dropout=0.25)
    params = init_params(cfg, rng)
    return Checkpoint(
        model=cfg,
        vocab=Vocabulary("ab\né"),
        params=params,
        optimizer="adam",
        optimizer_state={"m": params * 2, "v": params * 3},
        train_config={"lr": 0.002},
        step=12,
        epoch=2,
        train_history=np.array([[1, 4.0], [2, 3.5]]),
        val_history=np.array([[2, 3.7]]),
    )


def test_round_trip(tmp_path, ckpt):
    path = tmp_path / "c.npz"
    save(str(path), ckpt)
    back = load(str(path))
    assert back.model == ckpt.model and back.vocab.chars == ckpt.vocab.chars
    np.testing.assert_array_equal(back.params, ckpt.params)
    for key in ("m", "v"):
        np.testing.assert_array_equal(back.optimizer_state[key], ckpt.optimizer_state[key])
    assert (back.step, back.epoch, back.optimizer, back.train_config) == (
        12,
        2,
        "adam",
        {"lr": 0.002},
    )
    np.testing.assert_array_equal(back.val_history, ckpt.val_history)
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left
    with np.load(path, allow_pickle=False) as f:  # plain arrays, no pickle needed
        assert "params" in f.files


def rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(format_version=np.array(99)), "format 99"),
        (dict(magic=np.array("something else")), "not a charrnn checkpoint"),
        (dict(params=None), "missing the field 'params'"),
        (dict(params=np.zeros(5, np.float32)), r"params: has shape \(5,\), the model needs"),
        (dict(optimizer_m=np.zeros(3, np.float32)), r"optimizer_m: has shape \(3,\)"),
        (dict(model_config=np.array("{not json")), "model_config: not JSON"),
    ],
)
def test_bad_checkpoints_are_named_errors(tmp_path, ckpt, change, message):
    path = str(tmp_path / "c.npz")
    save(path, ckpt)
    rewrite(path, **change)
    with pytest.raises(CharrnnError, match=message) as e:
        load(path)
    assert path in str(e.value)


def test_truncated_and_garbage_files(tmp_path, ckpt):
    path = tmp_path / "c.npz"
    save(str(path), ckpt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CharrnnError, match="c.npz"):
        load(str(path))
    path.write_bytes(b"hello")
    with pytest.raises(CharrnnError, match="not a charrnn checkpoint .not an .npz file"):
        load(str(path))
    np.savez(str(tmp_path / "other.npz"), x=np.zeros(3))  # an .npz, not charrnn's
    with pytest.raises(CharrnnError, match="other.npz: not a charrnn checkpoint$"):
        load(str(tmp_path / "other.npz"))
    with pytest.raises(CharrnnError, match="no such checkpoint"):
        load(str(tmp_path / "missing.npz"))


def test_failed_write_keeps_the_old_file(tmp_path, ckpt, monkeypatch):
    path = str(tmp_path / "c.npz")
    save(path, ckpt)
    before = (tmp_path / "c.npz").read_bytes()

    def fail(f, arrays):  # the disk fills up half way through
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_npz", fail)
    with pytest.raises(OSError):
        save(path, ckpt)
    assert (tmp_path / "c.npz").read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]


def test_latest_best(tmp_path, ckpt):
    with pytest.raises(CharrnnError, match="no checkpoint"):
        latest_best(str(tmp_path))
    for name, mtime in (("old", 1000), ("new", 2000)):
        os.makedirs(tmp_path / name)
        save(str(tmp_path / name / "best.npz"), ckpt)
        os.utime(tmp_path / name / "best.npz", (mtime, mtime))
    assert latest_best(str(tmp_path)) == str(tmp_path / "new" / "best.npz")
