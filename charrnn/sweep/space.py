"""The search space of a sweep, as the command line gives it: ``--param
NAME=SPEC`` for any option of ``charrnn train`` that shapes the model or its
training.

    hidden=128,256,512     one of these values
    layers=1:3             an integer from 1 to 3
    dropout=0:0.3          a number from 0 to 0.3
    lr=1e-3:1e-2:log       a number from 1e-3 to 1e-2, on a log scale
    hidden=128:512:64      from 128 to 512 in steps of 64

Parsing needs no Optuna (bad input fails before anything starts); ``suggest``
asks an Optuna trial for the values.
"""

import dataclasses
import math
from dataclasses import dataclass

from ..config import TrainConfig
from ..errors import CharrnnError

# The options a sweep may search, by TrainConfig field, with their type.
SEARCHABLE = {
    "cell": str,
    "hidden": int,
    "layers": int,
    "dropout": float,
    "seq_length": int,
    "batch_size": int,
    "lr": float,
    "optimizer": str,
    "grad_clip": float,
    "lr_decay": float,
    "schedule": str,
    "weight_decay": float,
}
SEARCHABLE_NAMES = ", ".join(f.replace("_", "-") for f in SEARCHABLE)  # as --param names them


def option(field):
    return "--" + field.replace("_", "-")


@dataclass(frozen=True)
class Param:
    name: str  # the TrainConfig field
    values: tuple = ()  # a choice among these, or else a range:
    low: float = None
    high: float = None
    log: bool = False
    step: float = None

    @property
    def kind(self):
        return "choice" if self.values else SEARCHABLE[self.name].__name__

    def suggest(self, trial):
        if self.values:
            return trial.suggest_categorical(self.name, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self):
        name = option(self.name)[2:]
        if self.values:
            return f"{name}: one of {', '.join(map(str, self.values))}"
        scale = ", log scale" if self.log else f", steps of {self.step:g}" if self.step else ""
        return f"{name}: {self.kind} from {self.low:g} to {self.high:g}{scale}"


def parse(spec):
    """The Param of one ``--param NAME=SPEC``, or a CharrnnError saying what is wrong."""
    name, sep, text = spec.partition("=")
    field = name.strip().lstrip("-").replace("-", "_")
    if not sep or not field or not text.strip():
        raise CharrnnError(
            f"--param {spec!r}: write NAME=VALUES, e.g. hidden=128,256 or lr=1e-3:1e-2:log"
        )
    if field not in SEARCHABLE:
        raise CharrnnError(
            f"--param {spec!r}: {name.strip()!r} cannot be searched; searchable: {SEARCHABLE_NAMES}"
        )
    kind = SEARCHABLE[field]
    text = text.strip()
    if "," in text:
        values = tuple(_value(field, kind, v.strip(), spec) for v in text.split(","))
        if len(set(values)) != len(values):
            raise CharrnnError(f"--param {spec!r}: a value is given twice")
        for value in values:
            _check(field, value, spec)
        return Param(field, values=values)
    if ":" not in text:
        raise CharrnnError(
            f"--param {spec!r}: one value is not a search; fix it with "
            f"{option(field)} {text}, or give several (a,b) or a range (low:high)"
        )
    if kind is str:
        raise CharrnnError(
            f"--param {spec!r}: {option(field)} takes names: list them, e.g. cell=lstm,gru"
        )
    parts = [p.strip() for p in text.split(":")]
    if len(parts) > 3:
        raise CharrnnError(f"--param {spec!r}: a range is low:high, low:high:log or low:high:step")
    low, high = (_value(field, kind, p, spec) for p in parts[:2])
    log, step = False, None
    if len(parts) == 3:
        if parts[2].lower() == "log":
            log = True
        else:
            step = _value(field, kind, parts[2], spec)
            if not step > 0:
                raise CharrnnError(f"--param {spec!r}: the step must be positive")
    if not low < high:
        raise CharrnnError(f"--param {spec!r}: the range's low end must be below its high end")
    if log and not low > 0:
        raise CharrnnError(f"--param {spec!r}: a log scale needs a positive low end")
    for value in (low, high):
        _check(field, value, spec)
    return Param(field, low=low, high=high, log=log, step=step)


def _value(field, kind, text, spec):
    try:
        if kind is int:
            number = float(text)
            if number != int(number):
                raise ValueError
            return int(number)
        return kind(text) if kind is str else float(text)
    except ValueError:
        wanted = "an integer" if kind is int else "a number"
        raise CharrnnError(
            f"--param {spec!r}: {text!r} is not {wanted} for {option(field)}"
        ) from None


def _check(field, value, spec):
    """The value must be one ``train`` accepts (checked at both ends of a range)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise CharrnnError(f"--param {spec!r}: {value} is not a finite number")
    try:
        TrainConfig(**{field: value, "threads": 1}).check()
    except CharrnnError as e:
        raise CharrnnError(f"--param {spec!r}: {e}") from None


def parse_all(specs):
    params = [parse(spec) for spec in specs]
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise CharrnnError(f"--param {option(twice[0])[2:]} is given twice")
    return params


def to_dict(param):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(param).items()}


def from_dict(d):
    return Param(**{**d, "values": tuple(d.get("values") or ())})


def train_args(options):
    """``charrnn train`` arguments for a dict of TrainConfig fields."""
    args = []
    for field, value in options.items():
        args += [option(field), repr(value) if isinstance(value, float) else str(value)]
    return args
