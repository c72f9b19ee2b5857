"""Self-contained checkpoints: one ``.npz`` of plain arrays, loadable without pickle.

Written atomically: a temporary file in the same directory, fsync, rename,
then fsync of the directory, so a crash leaves either the old file or the new
one, never a torn one.
"""
import dataclasses
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .corpus import Vocabulary
from .errors import CharrnnError
from .model import ModelConfig, param_count

MAGIC = "charrnn checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    model: ModelConfig
    vocab: Vocabulary
    params: np.ndarray                 # flat float32, see model.param_shapes
    optimizer: str = "adam"
    optimizer_state: dict = field(default_factory=dict)  # name -> array like params
    train_config: dict = field(default_factory=dict)     # the options of the run
    step: int = 0
    epoch: int = 0
    train_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (step, loss)
    val_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))    # (step, loss)


def save(path, ckpt):
    arrays = {
        "magic": np.array(MAGIC),
        "format_version": np.array(FORMAT_VERSION),
        "model_config": np.array(json.dumps(dataclasses.asdict(ckpt.model))),
        "train_config": np.array(json.dumps(ckpt.train_config)),
        "vocab": ckpt.vocab.codepoints(),
        "params": ckpt.params,
        "optimizer": np.array(ckpt.optimizer),
        "step": np.array(ckpt.step),
        "epoch": np.array(ckpt.epoch),
        "train_history": np.asarray(ckpt.train_history, np.float64),
        "val_history": np.asarray(ckpt.val_history, np.float64),
    }
    arrays.update({f"optimizer_{k}": v for k, v in ckpt.optimizer_state.items()})
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path):
    """The checkpoint at ``path``; any problem is a CharrnnError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except FileNotFoundError:
        raise CharrnnError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise CharrnnError(f"{path}: is a directory, not a checkpoint") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CharrnnError(f"{path}: not a readable charrnn checkpoint ({e})") from None
    try:
        if str(arrays["magic"]) != MAGIC:
            raise CharrnnError(f"{path}: not a charrnn checkpoint")
        version = int(arrays["format_version"])
        if version != FORMAT_VERSION:
            raise CharrnnError(f"{path}: checkpoint format {version}, this charrnn reads "
                               f"format {FORMAT_VERSION}")
        model = ModelConfig(**json.loads(str(arrays["model_config"])))
        vocab = Vocabulary.from_codepoints(arrays["vocab"])
        params = arrays["params"]
        if len(vocab) != model.vocab_size or params.shape != (param_count(model),) \
                or params.dtype != np.float32:
            raise CharrnnError(f"{path}: the weights do not match the model configuration")
        optimizer = str(arrays["optimizer"])
        state = {k.removeprefix("optimizer_"): v for k, v in arrays.items()
                 if k.startswith("optimizer_")}
        if any(v.shape != params.shape for v in state.values()):
            raise CharrnnError(f"{path}: the optimizer state does not match the weights")
        return Checkpoint(model=model, vocab=vocab, params=params, optimizer=optimizer,
                          optimizer_state=state,
                          train_config=json.loads(str(arrays["train_config"])),
                          step=int(arrays["step"]), epoch=int(arrays["epoch"]),
                          train_history=arrays["train_history"],
                          val_history=arrays["val_history"])
    except KeyError as e:
        raise CharrnnError(f"{path}: checkpoint is missing the field {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise CharrnnError(f"{path}: checkpoint has a malformed field ({e})") from None


def find_latest_best(root="checkpoints"):
    """best.npz of the most recently written run under ``root``."""
    candidates = []
    if os.path.isdir(root):
        for dirpath, _, files in os.walk(root):
            if "best.npz" in files:
                best = os.path.join(dirpath, "best.npz")
                candidates.append((os.path.getmtime(best), best))
    if not candidates:
        raise CharrnnError(f"no checkpoint named and no {root}/*/best.npz found; "
                           "train a model first (charrnn train CORPUS) or name a checkpoint")
    return max(candidates)[1]
