"""What the commands share: the types of options that are not plain numbers
or words, the options made from TrainConfig's fields (config.py: one place
for each default, type and help), and JSON on stdout."""

import importlib
import json
import os
import re
import sys
from dataclasses import MISSING

import click

from .. import cpus
from .. import precision as precisions
from ..config import MODEL, option_fields, option_name
from ..errors import CharrnnError, Conflict
from ..files import escape_surrogates, json_safe

DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


class Duration(click.ParamType):
    """A time such as 90, 90s, 10m or 1h30m, in seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        match = DURATION.match(value.strip())
        if not value.strip() or not match or not any(match.groups()):
            self.fail(f"{value!r} is not a duration such as 90s, 10m or 1h30m", param, ctx)
        hours, minutes, seconds = (float(g or 0) for g in match.groups())
        total = 3600 * hours + 60 * minutes + seconds
        if total <= 0:
            self.fail("must be longer than zero", param, ctx)
        return total


class Seconds(float):
    """A time in seconds, told apart from a count of steps."""


class Every(click.ParamType):
    """A count of steps (250), or a time with its unit (30s, 2m)."""

    name = "steps|duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, Seconds)):
            return value
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        if text[-1:].lower() not in ("s", "m", "h"):
            self.fail(
                f"{value!r} is neither a number of steps (250) nor a time with its unit (30s, 2m)",
                param,
                ctx,
            )
        return Seconds(Duration().convert(text, param, ctx))


class Count(click.ParamType):
    """A count such as 500000, 500k, 20M or 1.5G."""

    name = "count"
    UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)", str(value).strip().lower())
        if not match:
            self.fail(f"{value!r} is not a count such as 500000, 500k or 20M", param, ctx)
        return int(float(match.group(1)) * self.UNITS[match.group(2)])


class Keep(click.ParamType):
    """A number of files to keep, or ``all``."""

    name = "count"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, int) and value >= 0):
            return value
        if str(value).strip().lower() == "all":
            return None
        try:
            number = int(value)
        except ValueError:
            number = -1
        if number < 0:
            self.fail(f"{value!r} is not a number >= 0 or 'all'", param, ctx)
        return number


# --precision of sample and eval (train's is TrainConfig.precision, with the same help)
precision_option = click.option(
    "--precision",
    type=click.Choice(precisions.CHOICES),
    default=precisions.AUTO,
    show_default=True,
    help=precisions.HELP,
)

threads_option = click.option(
    "--threads",
    type=click.IntRange(min=1),
    help=f"{cpus.THREADS_HELP}  [default: {cpus.THREADS_DEFAULT}]",
)


def json_option(help):
    """--json (as_json), every command's switch to JSON output; ``help`` says what it prints."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def emit(obj):
    """One JSON object on a line of stdout; infinities and NaN (not JSON) as null."""
    output(json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False))


def output(text="", nl=True):
    """Write ``text`` to stdout, lone surrogates escaped (files.escape_surrogates).
    A failed write (a full disk; /dev/full) is a CharrnnError; a closed pipe
    is click's (a quiet exit)."""
    try:
        click.echo(escape_surrogates(text), nl=nl)
    except BrokenPipeError:
        raise
    except OSError as e:
        discard_stdout()
        raise CharrnnError(f"cannot write to the standard output ({e.strerror})") from None


def discard_stdout():
    """Point stdout at /dev/null: what a failed write left in its buffer would
    fail again, with a traceback, when Python flushes it at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (click's test runner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


# The options whose values are not plain numbers or words, by TrainConfig field.
PARSERS = {"max_time": Duration(), "max_chars": Count(), "eval_every": Every(), "keep": Keep()}


def config_option(f):
    """The option of the TrainConfig field ``f``: its name, default, type and help."""
    help_text = f.metadata["help"]
    if "default_text" in f.metadata:  # decided when the run starts
        help_text += f" [default: {f.metadata['default_text']}]."
    if f.type is bool:
        return click.option(option_name(f.name), is_flag=True, help=help_text)
    choices = f.metadata.get("choices")
    default = None if f.default is MISSING else f.default
    return click.option(
        option_name(f.name),
        default=default,
        show_default=default is not None,
        type=click.Choice(list(choices)) if choices else PARSERS.get(f.name, f.type),
        help=help_text,
    )


def config_options(group):
    """A decorator: the options of TrainConfig's fields of ``group`` (config.MODEL, RUN)."""

    def decorate(command):
        for f in reversed(option_fields(group)):
            command = config_option(f)(command)
        return command

    return decorate


model_options = config_options(MODEL)  # what shapes a model and its training: train's, a sweep's


def given(ctx, name):
    """Whether the parameter ``name`` was given on the command line (not its default)."""
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def given_options(ctx, options):
    """The ``options`` given on the command line, not left at their defaults."""
    return {name: value for name, value in options.items() if given(ctx, name)}


def refuse_together(ctx, conflicts):
    """A Conflict (a usage error, exit code 2) naming both options when, of
    ``conflicts`` [(an option, the options it excludes or makes pointless,
    why)], an option and one of its others were both given on the command line."""
    for name, others, why in conflicts:
        for other in others:
            if given(ctx, name) and given(ctx, other):
                raise Conflict(f"{written(ctx, name)} and {written(ctx, other)}: {why}")


def written(ctx, name):
    """How the parameter ``name`` is written on the command line: its long
    option (--temperature, not -t), or an argument's name (NAME)."""
    param = next(p for p in ctx.command.params if p.name == name)
    if isinstance(param, click.Argument):
        return param.human_readable_name
    return max(param.opts, key=len)


class CheckpointPath(click.Path):
    """A checkpoint: a file, or a directory standing for one (runs.checkpoint_in):
    a run directory's ``name``, best.npz to read and last.npz to resume; a
    directory read from is announced with the file it stands for."""

    name = "checkpoint"

    def __init__(self, name="best.npz"):
        super().__init__()
        self.file_name = name

    def convert(self, value, param, ctx):
        from ..runs import checkpoint_in

        path = super().convert(value, param, ctx)
        if not path or not os.path.isdir(path):
            return path
        found = checkpoint_in(path, self.file_name)
        # --resume (last.npz) is announced by train itself, unless --quiet
        if self.file_name == "best.npz" and not (ctx and ctx.resilient_parsing):
            click.echo(f"using {found}", err=True)
        return found


def force_option(help):
    """--force, every command's leave to replace what an output path names; ``help``
    says what it replaces."""
    return click.option("--force", is_flag=True, help=help)


def refuse_to_replace(path, force):
    """Refuse an output ``path`` named on the command line that exists, unless --force."""
    if path is not None and os.path.lexists(path) and not force:
        raise CharrnnError(f"{path} exists; give --force to replace it, or name another file")


def encoding_option(what):
    """--encoding of the text file ``what`` (train's is TrainConfig.encoding)."""
    return click.option(
        "--encoding", default="utf-8", show_default=True, help=f"Text encoding of {what}."
    )


def need_extra(module, extra, command):
    """Import ``module`` of an optional extra, or say how to install the extra
    into charrnn as it was installed (extras.install_command)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        from ..extras import install_command

        raise CharrnnError(
            f"charrnn {command} needs the optional extra {extra!r}: {install_command(extra)}"
        ) from None
