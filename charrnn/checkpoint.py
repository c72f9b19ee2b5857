"""Self-contained checkpoints: one ``.npz`` of plain arrays, loadable without pickle.

A checkpoint holds everything needed to sample from the model and to resume
training exactly where it stopped: weights, optimizer state, learning rate,
position in the data, the carried hidden state and the random generator.

Written atomically: the data goes to a temporary ``.charrnn-tmp-<pid>-*`` file
in the target directory, is fsynced and renamed over the target, then the
directory is fsynced: a crash leaves the old file or the new one, never a torn
one.  A temporary file left by a killed process is removed by the next
training run in that directory.
"""
import dataclasses
import glob
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
TMP_PREFIX = ".charrnn-tmp-"


@dataclass
class Checkpoint:
    model: ModelConfig
    vocab: Vocabulary
    params: np.ndarray                 # flat float32, see model.param_shapes
    optimizer: str = "adam"
    optimizer_state: dict = field(default_factory=dict)  # name -> array like params
    train_config: dict = field(default_factory=dict)     # the options of the run, the corpus
    step: int = 0                      # optimizer steps taken
    epoch: int = 0                     # whole epochs completed
    batch_index: int = 0               # batches done in the current epoch
    lr: float = 0.0                    # the learning rate of the next step
    best_val: float = float("inf")
    state_h: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.float32))
    state_c: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.float32))
    rng_state: str = "{}"              # JSON of numpy's bit generator state (dropout masks)
    train_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (step, loss)
    val_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))    # (step, loss)


SCALARS = ("optimizer", "step", "epoch", "batch_index", "lr", "best_val", "rng_state")
ARRAYS = ("params", "state_h", "state_c", "train_history", "val_history")


def save(path, ckpt):
    arrays = {
        "magic": np.array(MAGIC),
        "format_version": np.array(FORMAT_VERSION),
        "model_config": np.array(json.dumps(dataclasses.asdict(ckpt.model))),
        "train_config": np.array(json.dumps(ckpt.train_config)),
        "vocab": ckpt.vocab.codepoints(),
    }
    arrays.update({key: np.array(getattr(ckpt, key)) for key in SCALARS + ARRAYS})
    arrays.update({f"optimizer_{k}": v for k, v in ckpt.optimizer_state.items()})
    write_atomically(path, lambda f: np.savez(f, **arrays))


def write_atomically(path, write):
    """Call write(file) for the contents of ``path``, replacing it atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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


def remove_stale_temporaries(directory):
    """Delete the temporary files of killed charrnn processes in ``directory``."""
    for path in glob.glob(os.path.join(glob.escape(directory), TMP_PREFIX + "*")):
        pid = os.path.basename(path)[len(TMP_PREFIX):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another live process is writing it
        try:
            os.unlink(path)
        except OSError:
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load(path):
    """The checkpoint at ``path``; any problem is a CharrnnError naming the file."""
    if os.path.isdir(path):
        raise CharrnnError(f"{path}: is a directory, not a checkpoint")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except FileNotFoundError:
        raise CharrnnError(f"{path}: no such checkpoint") from None
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
        ckpt = Checkpoint(model=model, vocab=vocab, params=arrays["params"],
                          train_config=json.loads(str(arrays["train_config"])),
                          optimizer_state={k.removeprefix("optimizer_"): v
                                           for k, v in arrays.items()
                                           if k.startswith("optimizer_")})
        for key in SCALARS:
            setattr(ckpt, key, type(getattr(ckpt, key))(arrays[key][()]))
        for key in ARRAYS[1:]:
            setattr(ckpt, key, arrays[key])
    except KeyError as e:
        raise CharrnnError(f"{path}: checkpoint is missing the field {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise CharrnnError(f"{path}: checkpoint has a malformed field ({e})") from None
    params = ckpt.params
    if len(vocab) != model.vocab_size or params.shape != (param_count(model),) \
            or params.dtype != np.float32:
        raise CharrnnError(f"{path}: the weights do not match the model configuration")
    if any(v.shape != params.shape for v in ckpt.optimizer_state.values()):
        raise CharrnnError(f"{path}: the optimizer state does not match the weights")
    if ckpt.state_h.shape != ckpt.state_c.shape or \
            (ckpt.state_h.size and ckpt.state_h.shape[::2] != (model.layers, model.hidden)):
        raise CharrnnError(f"{path}: the saved hidden state does not match the model")
    return ckpt


def find_latest_best(root="checkpoints"):
    """best.npz of the most recently written run under ``root``."""
    candidates = []
    if os.path.isdir(root):
        for dirpath, _, files in os.walk(root):
            if "best.npz" in files:
                best = os.path.join(dirpath, "best.npz")
                candidates.append((os.path.getmtime(best), best))
    if not candidates:
        raise CharrnnError(f"no checkpoint named and no best.npz found under {root}/; "
                           "train a model first (charrnn train CORPUS) or name a checkpoint")
    return max(candidates)[1]
