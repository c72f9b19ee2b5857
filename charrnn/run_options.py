"""A run's training options as they took effect, in train's words: what
``info`` reports and prints as a command line that trains the run again,
and the options in which the runs that ``runs`` lists differ.  Numba-free."""

import json
import shlex
from dataclasses import MISSING

from .config import BEFORE_THE_OPTION, NOT_CARRIED, option_fields, option_name

# The options that runs' table shows in columns of their own (cell, size).
IN_RUNS_COLUMNS = ("cell", "hidden", "layers")
DURATIONS = ("max_time",)  # seconds, written as train's --max-time takes them


def training_options(ckpt):
    """The training options of the run in ``ckpt`` (loaded with or without
    weights) by TrainConfig field, as its last process trained: an option
    newer than the run at the value it trained with (BEFORE_THE_OPTION), and
    a learning rate left to its default at the peak that it took."""
    saved = ckpt.train_config
    options = {
        f.name: saved.get(f.name, BEFORE_THE_OPTION.get(f.name, default_of(f)))
        for f in option_fields()
    }
    options["eval_seconds"] = saved.get("eval_seconds")
    if options["lr"] is None:
        options["lr"] = json.loads(ckpt.schedule or "{}").get("peak_lr") or first_rate(ckpt)
    return options


def first_rate(ckpt):
    """The rate a run of charrnn 1.0 (which saved no peak) started from: its
    last, undone of the --lr-decay after every epoch (to 12 digits: not the
    division's rounding)."""
    decay = ckpt.train_config.get("lr_decay", 1.0)
    return float(f"{ckpt.lr / decay**ckpt.epoch:.12g}")


def default_of(f):
    return None if f.default is MISSING else f.default


def option_text(options, name):
    """The value of the option ``name`` in ``options`` as train's command
    line takes it (a float exactly, as repr writes it): --eval-every a count
    of steps or the time ``eval_seconds``, --keep all, --max-time 90s."""
    value = options.get(name)
    if name == "eval_every" and options.get("eval_seconds") is not None:
        return f"{plain(options['eval_seconds'])}s"
    if name == "keep" and value is None:
        return "all"
    if value is None:
        return "-"
    if name in DURATIONS:
        return f"{plain(value)}s"
    return repr(value) if isinstance(value, float) else str(value)


def plain(seconds):
    """Seconds without an exponent, which a duration does not take: 90, 1.5."""
    return f"{seconds:f}".rstrip("0").rstrip(".")


def rerun_command(options, corpus):
    """The ``charrnn train`` command line (one string for a shell) that
    trains a run of ``options`` (training_options) on ``corpus`` again: the
    options not at train's defaults, a boolean as its flag."""
    words = ["charrnn", "train", corpus]
    for f in option_fields():
        at_default = options.get(f.name) == default_of(f)
        if f.name == "eval_every" and options.get("eval_seconds") is not None:
            at_default = False
        if f.type is bool:
            words += [option_name(f.name)] if options.get(f.name) else []
        elif not at_default:
            words += [option_name(f.name), option_text(options, f.name)]
    return shlex.join(words)


def differing(all_options):
    """The option fields whose values differ between runs of ``all_options``
    (training_options; None: a run whose options are not known), but for
    the options of runs' own columns and those of how a run is computed."""
    known = [o for o in all_options if o is not None]
    return [
        f.name
        for f in option_fields()
        if f.name not in IN_RUNS_COLUMNS + NOT_CARRIED
        and len({option_text(o, f.name) for o in known}) > 1
    ]


def in_json(options, names):
    """The options ``names`` of ``options`` by field, JSON-ready: --eval-every
    as its two fields, eval_every and eval_seconds."""
    if options is None:
        return None
    fields = names + (["eval_seconds"] if "eval_every" in names else [])
    return {name: options[name] for name in fields}
