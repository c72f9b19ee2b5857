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

from . import checkpoint_fields as fields
from . import npz
from .data.corpus import Vocabulary
from .errors import CharrnnError
from .files import write_atomically
from .model import ModelConfig
from .optimizers import OPTIMIZERS

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
    # Whether the weights are finite: always, when loaded with them (load
    # refuses others); without them, what runs and info report.  Never saved.
    finite: bool = field(default=True, compare=False)

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
# The dtype of each array member, by the first word of its name (the others: float64).
DTYPES = {
    "vocab": (np.dtype("i4"),),
    "params": (np.dtype("f4"),),
    "optimizer": (np.dtype("f4"),),
    "state": (np.dtype("f4"),),
}


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
    """The checkpoint at ``path``; any problem is a CharrnnError of one line
    naming the file and the member.  Only the members charrnn knows are read,
    each checked before its data is (checkpoint_fields, npz).  Weights or
    optimizer state that are not finite are refused.  Without ``weights``,
    they are not kept (params is None, optimizer_state empty; ``finite``
    says whether the weights are): a look for ``runs`` and ``info``."""
    try:
        with _open(path) as f:
            return _read(npz.Archive(f), weights)
    except CharrnnError as e:
        raise CharrnnError(f"{path}: {e}") from None


def check_continuable(ckpt, path, steps_per_epoch):
    """Refuse to resume ``ckpt`` (loaded from ``path`` with its weights) unless it
    holds what training continues from: the optimizer's state, the random
    generator's, and a batch within an epoch of ``steps_per_epoch``.  A
    checkpoint made without ``train`` may lack the first two."""
    missing = [k for k in OPTIMIZERS[ckpt.optimizer].state if k not in ckpt.optimizer_state]
    if missing:
        problem = f"optimizer_{missing[0]}: missing, so the {ckpt.optimizer} optimizer cannot go on"
    elif ckpt.rng_state == "{}":
        problem = "rng_state: empty, so the dropout masks cannot go on"
    elif ckpt.batch_index >= steps_per_epoch:
        problem = f"batch_index: {ckpt.batch_index:,}, but an epoch has {steps_per_epoch:,} batches"
    else:
        return
    raise CharrnnError(f"{path}: {problem}; it can be sampled, not resumed")


def _open(path):
    """The checkpoint file at ``path``, open, once it is seen to be a zip file."""
    if os.path.isdir(path):
        raise CharrnnError("is a directory, not a checkpoint")
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise CharrnnError("no such checkpoint") from None
    except OSError as e:
        raise CharrnnError(e.strerror) from None
    try:
        is_zip = f.read(4) == b"PK\x03\x04"
        f.seek(0)
    except OSError as e:
        f.close()
        raise CharrnnError(e.strerror) from None
    if not is_zip:
        f.close()
        raise CharrnnError("not a charrnn checkpoint (not an .npz file)")
    return f


def _read(archive, weights):
    """A Checkpoint from an open archive of any readable format version."""
    if "magic" not in archive or fields.text(archive, "magic") != MAGIC:
        raise CharrnnError("not a charrnn checkpoint")
    _require(archive, ["format_version"])
    version = fields.number(archive, "format_version", int)
    if version not in READABLE_VERSIONS:
        raise CharrnnError(
            f"checkpoint format {version}, this charrnn reads formats "
            f"{READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}"
            + ("; a newer charrnn wrote it" if version > FORMAT_VERSION else "")
        )
    scalars = [key for key in SCALARS if version > 1 or key not in NEW_IN_2]
    _require(archive, ["model_config", "train_config", "vocab", *scalars])
    model = fields.model_config(fields.json_object(archive, "model_config"), version)
    train_config = fields.train_config(fields.json_object(archive, "train_config"))
    if version == 1:
        train_config = {**train_config, "cell": "lstm"}
    values = {key: fields.SCALAR_READERS[key](archive, key) for key in scalars}
    values.update({key: value for key, value in NEW_IN_2.items() if key not in values})
    arrays, finite = _read_arrays(archive, model, version, values["optimizer"], weights)
    if version == 1:
        arrays = _from_version_1(arrays)
    ckpt = Checkpoint(
        model=model,
        vocab=Vocabulary.from_codepoints(arrays.pop("vocab")),
        params=arrays.pop("params") if weights else None,
        optimizer_state={
            k.removeprefix("optimizer_"): v for k, v in arrays.items() if k.startswith("optimizer_")
        }
        if weights
        else {},
        train_config=train_config,
        format_version=version,
        finite=finite,
        **values,
        **{key: arrays[key] for key in ARRAYS[1:]},
    )
    fields.check_histories(ckpt)
    fields.check_consistent(ckpt)
    return ckpt


def _require(archive, names):
    missing = [name for name in names if name not in archive]
    if missing:
        raise CharrnnError(f"checkpoint is missing the field {missing[0]!r}")


def _read_arrays(archive, model, version, optimizer, weights):
    """({member: array} of the arrays the checkpoint of ``model`` holds, whether
    its weights are finite): every header checked before any data is read."""
    shapes = fields.expected_shapes(model, version)
    state_names = [f"optimizer_{k}" for k in OPTIMIZERS[optimizer].state]
    names = [n for n in shapes if not n.startswith("optimizer_")] + [
        n for n in state_names if n in archive
    ]
    _require(archive, names)
    headers = {}
    for name in names:
        dtype = DTYPES.get(name.split("_")[0], (np.dtype("f8"),))
        headers[name] = archive.header(name, dtype, len(shapes[name]))
        fields.check_shape(name, headers[name].shape, shapes[name])
    kept = [n for n in names if weights or not (n == "params" or n.startswith("optimizer_"))]
    archive.reserve(headers[name] for name in kept)
    arrays = {name: archive.read(name, headers[name]) for name in kept}
    fields.check_vocab(arrays["vocab"])
    if not weights:
        return arrays, archive.all_finite("params", headers["params"])
    for name in ["params", *state_names]:
        if name in arrays and not np.isfinite(arrays[name]).all():
            raise CharrnnError(
                f"{name}: not finite (NaN or infinite): the run diverged, or the "
                "file was altered; use an earlier checkpoint"
            )
    return arrays, True


def _from_version_1(arrays):
    """A version-1 file's arrays in version 2's terms: (h, c) as one state
    array, no times in the histories."""
    h, c = arrays.pop("state_h"), arrays.pop("state_c")
    if h.shape != c.shape:
        raise CharrnnError(f"state_c: has shape {c.shape}, state_h {h.shape}")
    arrays["state"] = np.stack([h, c], axis=1) if h.size else np.zeros((0, 0, 0, 0), h.dtype)
    for name in ("train", "val"):
        unknown = np.full(len(arrays[f"{name}_history"]), np.nan)
        arrays[f"{name}_seconds"], arrays[f"{name}_chars"] = unknown, unknown
    return arrays
