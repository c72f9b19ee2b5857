"""What each member of a checkpoint may hold: the checks checkpoint.load
makes before it trusts a file that may come from anyone.  Each raises a
CharrnnError that names the member; load adds the file's path.

The caps are the trainer's (training/start.py): a checkpoint that ``train``
could not have written is refused before its arrays are read.
"""

import json
import math
from dataclasses import fields

import numpy as np

from . import cells
from .config import TrainConfig, option_name
from .errors import CharrnnError
from .model import ModelConfig, param_count, state_size
from .npz import TEXT
from .optimizers import OPTIMIZERS

MAX_TEXT = 100_000  # characters of a text member; a train_config has under 1,000
MAX_COUNT = 2**53  # steps, epochs, batches, characters: exact in a float64 history
UNICODE = 0x110000  # code points; the vocabulary's largest possible size
INTS = tuple(np.dtype(f"{kind}{size}") for kind in "iu" for size in (1, 2, 4, 8))
FLOATS = (np.dtype("f4"), np.dtype("f8")) + INTS  # a float saved as an int is one
# train_config's entries besides TrainConfig's fields: the corpus and the data stream.
RUN_FACTS = {
    "corpus": str,
    "corpus_sha256": str,
    "corpus_file_sha256": str,
    "corpus_chars": int,
    "steps_per_epoch": int,
}
# Options of TrainConfig that may be null in a saved run ("all" for keep).
NULLABLE = {f.name for f in fields(TrainConfig) if f.default is None} | {"keep"}
MODEL_IN_TRAIN_CONFIG = ("cell", "hidden", "layers", "dropout")


def text(archive, name):
    """The string a 0-d text member holds."""
    header = archive.header(name, TEXT, 0)
    if header.dtype.itemsize // 4 > MAX_TEXT:
        raise CharrnnError(
            f"{name}: {header.dtype.itemsize // 4:,} characters, more than {MAX_TEXT:,}"
        )
    return str(archive.read(name, header)[()])


def number(archive, name, kind):
    """The int or float (``kind``) a 0-d numeric member holds."""
    header = archive.header(name, INTS if kind is int else FLOATS, 0)
    return kind(archive.read(name, header)[()].item())


def count(archive, name):
    """A count (steps, epochs, batches, characters): an int in [0, MAX_COUNT]."""
    value = number(archive, name, int)
    if not 0 <= value <= MAX_COUNT:
        raise CharrnnError(f"{name}: {value} is not a count in [0, 2^53]")
    return value


def amount(archive, name):
    """A learning rate or a number of seconds: finite and not negative."""
    value = number(archive, name, float)
    if not (math.isfinite(value) and value >= 0):
        raise CharrnnError(f"{name}: {value} is not a finite amount >= 0")
    return value


def loss(archive, name):
    """A loss: not negative; infinite before the first validation, NaN after a diverged one."""
    value = number(archive, name, float)
    if value < 0:
        raise CharrnnError(f"{name}: {value} is not a loss (negative)")
    return value


def json_object(archive, name):
    """The dict a member's JSON text holds."""
    return parse_object(name, text(archive, name))


def parse_object(name, raw):
    """The dict the JSON text ``raw`` of member ``name`` holds."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise CharrnnError(f"{name}: not JSON ({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise CharrnnError(f"{name}: a JSON {json_type(value)}, not an object")
    return value


def json_type(value):
    """What JSON calls the type of a parsed value."""
    names = (
        (bool, "boolean"),
        (int, "number"),
        (float, "number"),
        (str, "string"),
        (list, "array"),
    )
    return next((word for kind, word in names if isinstance(value, kind)), "null")


def optimizer(archive, name):
    value = text(archive, name)
    if value not in OPTIMIZERS:
        raise CharrnnError(f"{name}: {value!r} is not an optimizer ({', '.join(OPTIMIZERS)})")
    return value


def schedule(archive, name):
    """The state of a learning-rate schedule as JSON: {} or name, peak_lr and done."""
    raw = text(archive, name)
    value = parse_object(name, raw)
    for key, kind in (("name", str), ("peak_lr", float), ("done", float)):
        if key in value and not _is(value[key], kind):
            raise CharrnnError(f"{name}: {key} is {value[key]!r}, not a {kind.__name__}")
    if "peak_lr" in value and not value["peak_lr"] > 0:
        raise CharrnnError(f"{name}: peak_lr is {value['peak_lr']}, not positive")
    if "done" in value and not 0 <= value["done"] <= 1:
        raise CharrnnError(f"{name}: done is {value['done']}, not in [0, 1]")
    return raw


def rng_state(archive, name):
    """The state of the dropout masks' PCG64 generator as JSON, or {} (none kept)."""
    raw = text(archive, name)
    value = parse_object(name, raw)
    if value:
        try:
            np.random.PCG64().state = value
        except (ValueError, TypeError, KeyError, OverflowError) as e:
            raise CharrnnError(f"{name}: not a PCG64 generator's state ({e})") from None
    return raw


def version_text(archive, name):
    value = text(archive, name)
    if len(value) > 100 or not value.isprintable():
        raise CharrnnError(f"{name}: {value[:100]!r} is not a version")
    return value


# How load reads each scalar member (checkpoint.SCALARS).
SCALAR_READERS = {
    "optimizer": optimizer,
    "step": count,
    "epoch": count,
    "batch_index": count,
    "lr": amount,
    "schedule": schedule,
    "best_val": loss,
    "seconds": amount,
    "chars": count,
    "rng_state": rng_state,
    "charrnn_version": version_text,
}


def model_config(value, version):
    """The ModelConfig a model_config object describes, within the trainer's caps."""
    from .training.start import MAX_LAYERS, MAX_PARAMS  # the trainer's (imports this module)

    if version == 1:
        value = {"cell": "lstm", **value}  # charrnn 1.0 had only the LSTM
    names = [f.name for f in fields(ModelConfig)]
    unknown = sorted(set(value) - set(names))
    if unknown or set(names) - set(value):
        what = (
            f"the unknown field {unknown[0]!r}"
            if unknown
            else f"no {sorted(set(names) - set(value))[0]!r}"
        )
        raise CharrnnError(f"model_config: has {what}")
    for f in fields(ModelConfig):
        if not _is(value[f.name], f.type):
            raise CharrnnError(
                f"model_config: {f.name} is {value[f.name]!r}, not {f.type.__name__}"
            )
    cfg = ModelConfig(**value)
    if cfg.cell not in cells.CELLS:
        raise CharrnnError(
            f"model_config: unknown cell {cfg.cell!r}; the cells are {', '.join(cells.CELLS)}"
        )
    limits = (
        ("vocab_size", 1, UNICODE),
        ("hidden", 1, MAX_PARAMS),
        ("layers", 1, MAX_LAYERS),
    )
    for key, low, high in limits:
        if not low <= getattr(cfg, key) <= high:
            raise CharrnnError(
                f"model_config: {key} {getattr(cfg, key):,} is not in [{low}, {high:,}]"
            )
    if not 0 <= cfg.dropout < 1:
        raise CharrnnError(f"model_config: dropout {cfg.dropout} is not in [0, 1)")
    if param_count(cfg) > MAX_PARAMS:
        raise CharrnnError(
            f"model_config: {param_count(cfg):,} parameters, more than the {MAX_PARAMS:,} "
            "that train allows"
        )
    return cfg


def train_config(value):
    """The train_config object, its entries of the types and in the ranges that
    ``train`` gives them (entries a newer charrnn may add are kept as they are)."""
    by_name = {f.name: f for f in fields(TrainConfig)}
    for key, entry in value.items():
        kind = by_name[key].type if key in by_name else RUN_FACTS.get(key)
        if kind is not None and not (_is(entry, kind) or (entry is None and key in NULLABLE)):
            raise CharrnnError(f"train_config: {key} is {entry!r}, not {kind.__name__}")
    for key in ("corpus_chars", "steps_per_epoch"):
        if key in value and not 0 < value[key] <= MAX_COUNT:
            raise CharrnnError(f"train_config: {key} is {value[key]}, not in [1, 2^53]")
    for key, f in by_name.items():  # checked before TrainConfig() uses them
        choices = f.metadata.get("choices")
        if choices is not None and value.get(key) is not None and value[key] not in choices:
            raise CharrnnError(
                f"train_config: {key} is {value[key]!r}, not one of {', '.join(choices)}"
            )
    options = {key: entry for key, entry in value.items() if key in by_name}
    try:
        TrainConfig(**{"threads": 1, **options}).check()
    except CharrnnError as e:
        raise CharrnnError(f"train_config: {e}") from None
    return value


def _is(value, kind):
    """Whether a JSON value is of the Python type ``kind`` (an int is a float,
    a bool is neither; a float is finite)."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def expected_shapes(model, version):
    """{member: shape} of the arrays a checkpoint of ``model`` holds (None: a
    length the file decides; ()-shaped state: empty is allowed too)."""
    n = param_count(model)
    L, S, H = model.layers, state_size(model), model.hidden
    shapes = {"vocab": (model.vocab_size,), "params": (n,)}
    shapes.update({f"optimizer_{k}": (n,) for o in OPTIMIZERS.values() for k in o.state})
    if version == 1:
        shapes.update({"state_h": (L, None, H), "state_c": (L, None, H)})
    else:
        shapes["state"] = (L, S, None, H)
    for name in ("train", "val"):
        shapes[f"{name}_history"] = (None, 2)
        if version > 1:
            shapes[f"{name}_seconds"] = shapes[f"{name}_chars"] = (None,)
    return shapes


def check_shape(name, shape, expected):
    """Refuse ``shape`` unless it is ``expected`` (None: any length), or an empty state."""
    if name.startswith("state") and math.prod(shape) == 0:
        return
    if len(shape) != len(expected) or any(
        e is not None and s != e for s, e in zip(shape, expected)
    ):
        wanted = str(tuple("N" if e is None else e for e in expected)).replace("'", "")
        raise CharrnnError(f"{name}: has shape {shape}, the model needs {wanted}")


def check_vocab(codepoints):
    """Distinct characters in code-point order, as Vocabulary keeps them (lone
    surrogates included: a corpus read with unicode_escape may hold them, and
    every writer of text escapes them)."""
    cps = codepoints.astype(np.int64)
    if len(cps) and (cps[0] < 0 or cps[-1] >= UNICODE or (np.diff(cps) <= 0).any()):
        raise CharrnnError("vocab: not distinct code points in order")


def check_histories(ckpt):
    """(step, loss) rows with finite steps, and as many times as rows."""
    for name in ("train", "val"):
        history = getattr(ckpt, f"{name}_history")
        steps = history[:, 0]
        if not (np.isfinite(steps).all() and (steps >= 0).all()):
            raise CharrnnError(f"{name}_history: has steps that are not finite counts")
        for kind in ("seconds", "chars"):
            if len(getattr(ckpt, f"{name}_{kind}")) != len(history):
                raise CharrnnError(
                    f"{name}_{kind}: does not have a row for each row of {name}_history"
                )


def check_consistent(ckpt):
    """The parts of a checkpoint that must agree: the model and train
    configurations, the carried state and the run's batch size, the position
    and the epoch's length."""
    model, tc = ckpt.model, ckpt.train_config
    for key in MODEL_IN_TRAIN_CONFIG:
        if key in tc and tc[key] != getattr(model, key):
            raise CharrnnError(
                f"train_config: {option_name(key)} {tc[key]}, but model_config "
                f"says {getattr(model, key)}"
            )
    if "optimizer" in tc and tc["optimizer"] != ckpt.optimizer:
        raise CharrnnError(
            f"optimizer: {ckpt.optimizer!r}, but train_config says {tc['optimizer']!r}"
        )
    batch = ckpt.state.shape[2] if ckpt.state.size else None
    if batch is not None and "batch_size" in tc and batch != tc["batch_size"]:
        raise CharrnnError(
            f"state: for a batch of {batch}, but train_config's batch_size is {tc['batch_size']}"
        )
    if ckpt.batch_index and batch is None:
        raise CharrnnError(
            f"state: empty, but the run stopped within an epoch (batch {ckpt.batch_index})"
        )
    steps_per_epoch = tc.get("steps_per_epoch")
    if steps_per_epoch is not None and ckpt.batch_index >= steps_per_epoch:
        raise CharrnnError(
            f"batch_index: {ckpt.batch_index:,}, but an epoch has {steps_per_epoch:,} batches"
        )
