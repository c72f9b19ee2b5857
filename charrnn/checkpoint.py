"""Self-contained checkpoints: one ``.npz`` of plain arrays, loadable without pickle.

A checkpoint holds everything needed to sample from the model and to resume
training exactly where it stopped: weights, optimizer state, learning rate
and its schedule, position in the data, the carried hidden state and the
random generator, and the run's histories.

Format version 2 (charrnn 1.1) adds the cell to the model configuration, one
``state`` array for the carried state of any cell, the wall-clock seconds
and characters seen at every history row and in all, the state of a
learning-rate schedule and the charrnn version.  Version-1 files (charrnn
1.0, LSTM only) still load: their missing fields take their 1.0 meaning.

Written atomically (files.write_atomically): a reader or a crash sees the
old file or the new one, never a torn one.
"""

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .data.corpus import Vocabulary
from .errors import CharrnnError
from .files import write_atomically
from .model import ModelConfig, param_count, state_size

MAGIC = "charrnn checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("charrnn")
    except PackageNotFoundError:
        return "unknown"


def _empty_row():
    return np.zeros(0)


@dataclass
class Checkpoint:
    model: ModelConfig
    vocab: Vocabulary
    params: np.ndarray  # flat float32, see model.param_shapes
    optimizer: str = "adam"
    optimizer_state: dict = field(default_factory=dict)  # name -> array like params
    train_config: dict = field(default_factory=dict)  # the options of the run, the corpus
    step: int = 0  # optimizer steps taken
    epoch: int = 0  # whole epochs completed
    batch_index: int = 0  # batches done in the current epoch
    lr: float = 0.0  # of the last step (of the next with schedule decay)
    schedule: str = "{}"  # JSON: the state of a learning-rate schedule
    best_val: float = float("inf")
    seconds: float = 0.0  # training wall-clock seconds, over all resumes
    chars: int = 0  # training characters seen
    # The carried state (L, S, B, H) at batch_index; empty when at an epoch's start.
    state: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 0), np.float32))
    rng_state: str = "{}"  # JSON of numpy's bit generator state (dropout masks)
    train_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (step, loss)
    val_history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (step, loss)
    # Beside each history row: wall-clock seconds and characters seen (NaN in
    # rows of version-1 files).
    train_seconds: np.ndarray = field(default_factory=_empty_row)
    train_chars: np.ndarray = field(default_factory=_empty_row)
    val_seconds: np.ndarray = field(default_factory=_empty_row)
    val_chars: np.ndarray = field(default_factory=_empty_row)
    charrnn_version: str = field(default_factory=_version)  # of the program that wrote it
    format_version: int = FORMAT_VERSION  # of the file it was loaded from; saved as the current
    # Generation's weights by precision (sample.generation_weights_of): packed
    # once per loaded checkpoint, never saved.
    packed: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        for name in ("train", "val"):  # histories given without their times
            n = len(getattr(self, f"{name}_history"))
            for kind in ("seconds", "chars"):
                if len(getattr(self, f"{name}_{kind}")) == 0 and n:
                    setattr(self, f"{name}_{kind}", np.full(n, np.nan))


SCALARS = (
    "optimizer",
    "step",
    "epoch",
    "batch_index",
    "lr",
    "schedule",
    "best_val",
    "seconds",
    "chars",
    "rng_state",
    "charrnn_version",
)
ARRAYS = (
    "params",
    "state",
    "train_history",
    "val_history",
    "train_seconds",
    "train_chars",
    "val_seconds",
    "val_chars",
)
# What version 2 added, and its value in a version-1 file.
NEW_IN_2 = {"schedule": "{}", "seconds": 0.0, "chars": 0, "charrnn_version": "1.0"}


def save(path, ckpt):
    arrays = {
        "magic": np.array(MAGIC),
        "format_version": np.array(FORMAT_VERSION),
        "model_config": np.array(json.dumps(dataclasses.asdict(ckpt.model))),
        "train_config": np.array(json.dumps(ckpt.train_config)),
        "vocab": ckpt.vocab.codepoints(),
    }
    arrays.update({key: np.asarray(getattr(ckpt, key)) for key in SCALARS + ARRAYS})
    arrays.update({f"optimizer_{k}": v for k, v in ckpt.optimizer_state.items()})
    write_atomically(path, lambda f: write_npz(f, arrays))


WRITE_BLOCK = 1 << 20  # bytes per write: what writing a checkpoint adds to memory


def write_npz(f, arrays):
    """np.savez's file (an uncompressed zip of .npy files, which np.load
    reads), written from the arrays' own memory.  np.savez copies each array
    into a bytes object first: at 2x512 that is 13 MB more at every
    checkpoint, and memory the process keeps."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            array = np.asarray(array, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array_header_2_0(
                    out, np.lib.format.header_data_from_array_1_0(array)
                )
                data = memoryview(array.reshape(-1).view(np.uint8))
                for start in range(0, len(data), WRITE_BLOCK):
                    out.write(data[start : start + WRITE_BLOCK])


def load(path, weights=True):
    """The checkpoint at ``path``; any problem is a CharrnnError naming the file.
    Without ``weights``, the weights and optimizer state are not read (params
    is None, optimizer_state empty): a quick look for ``runs`` and ``info``."""
    arrays = _read_arrays(path, weights)
    try:
        ckpt = _from_arrays(arrays, weights)
    except KeyError as e:
        raise CharrnnError(f"{path}: checkpoint is missing the field {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise CharrnnError(f"{path}: checkpoint has a malformed field ({e})") from None
    except CharrnnError as e:
        raise CharrnnError(f"{path}: {e}") from None
    _check_consistent(ckpt, path, weights)
    return ckpt


def _read_arrays(path, weights):
    """The arrays of the .npz file at ``path`` (without ``weights``: params None,
    no optimizer state)."""
    if os.path.isdir(path):
        raise CharrnnError(f"{path}: is a directory, not a checkpoint")
    try:
        with open(path, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"
    except FileNotFoundError:
        raise CharrnnError(f"{path}: no such checkpoint") from None
    except OSError as e:
        raise CharrnnError(f"{path}: {e.strerror}") from None
    if not is_zip:
        raise CharrnnError(f"{path}: not a charrnn checkpoint (not an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {
                key: f[key]
                for key in f.files
                if weights or not (key == "params" or key.startswith("optimizer_"))
            }
    except FileNotFoundError:
        raise CharrnnError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CharrnnError(f"{path}: not a readable charrnn checkpoint ({e})") from None
    if not weights:
        arrays["params"] = None
    return arrays


def _from_arrays(arrays, weights):
    """A Checkpoint from a file's arrays, of any readable format version."""
    if str(arrays.get("magic")) != MAGIC:
        raise CharrnnError("not a charrnn checkpoint")
    version = int(arrays["format_version"])
    if version not in READABLE_VERSIONS:
        raise CharrnnError(
            f"checkpoint format {version}, this charrnn reads formats "
            f"{READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}"
            + ("; a newer charrnn wrote it" if version > FORMAT_VERSION else "")
        )
    if version == 1:
        arrays = _from_version_1(arrays)
    model = ModelConfig(**json.loads(str(arrays["model_config"])))
    ckpt = Checkpoint(
        model=model,
        vocab=Vocabulary.from_codepoints(arrays["vocab"]),
        params=arrays["params"],
        train_config=json.loads(str(arrays["train_config"])),
        optimizer_state={
            k.removeprefix("optimizer_"): v for k, v in arrays.items() if k.startswith("optimizer_")
        },
    )
    ckpt.format_version = version
    for key in SCALARS:
        setattr(ckpt, key, type(getattr(ckpt, key))(arrays[key][()]))
    for key in ARRAYS[1:]:
        setattr(ckpt, key, arrays[key])
    param_count(model)  # checks the cell's name
    if not weights:
        ckpt.optimizer_state = {}
    return ckpt


def _check_consistent(ckpt, path, weights):
    """Refuse a checkpoint whose parts do not fit together."""
    model, params, state = ckpt.model, ckpt.params, ckpt.state
    if len(ckpt.vocab) != model.vocab_size or (
        weights and (params.shape != (param_count(model),) or params.dtype != np.float32)
    ):
        raise CharrnnError(f"{path}: the weights do not match the model configuration")
    if any(v.shape != params.shape for v in ckpt.optimizer_state.values()):
        raise CharrnnError(f"{path}: the optimizer state does not match the weights")
    if state.ndim != 4 or (
        state.size
        and (state.shape[:2] != (model.layers, state_size(model)) or state.shape[3] != model.hidden)
    ):
        raise CharrnnError(f"{path}: the saved hidden state does not match the model")
    if any(
        len(getattr(ckpt, f"{h}_{k}")) != len(getattr(ckpt, f"{h}_history"))
        for h in ("train", "val")
        for k in ("seconds", "chars")
    ):
        raise CharrnnError(f"{path}: the histories do not match their times")


def _from_version_1(arrays):
    """A version-1 file's arrays in version 2's terms: an LSTM (the model
    config has no cell), (h, c) as one state array, no times in the histories."""
    arrays = dict(arrays)
    train_config = json.loads(str(arrays["train_config"]))
    arrays["train_config"] = np.array(json.dumps({**train_config, "cell": "lstm"}))
    h, c = arrays.pop("state_h"), arrays.pop("state_c")
    if h.shape != c.shape:
        raise ValueError("state_h and state_c differ in shape")
    arrays["state"] = np.stack([h, c], axis=1) if h.size else np.zeros((0, 0, 0, 0), h.dtype)
    for name in ("train", "val"):
        unknown = np.full(len(arrays[f"{name}_history"]), np.nan)
        arrays[f"{name}_seconds"], arrays[f"{name}_chars"] = unknown, unknown
    arrays.update({key: np.array(value) for key, value in NEW_IN_2.items()})
    return arrays
