"""The command line: ``charrnn train | sample | eval | runs | info | corpus``, thin over the
library.  Every command that reports something has ``--json``: one JSON object
per line on stdout, human messages on stderr."""
import datetime
import json
import math
import os
import re
import sys
import time

from dataclasses import MISSING

import click

from .config import MODEL, RUN, option_fields, option_name
from .data.datasets import NAMES
from .errors import CharrnnError, Interrupted
from .files import finite
from .precision import AUTO_INT8_PARAMS, CHOICES, PRECISIONS, resolve
from .sweep import PRUNERS

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
            self.fail(f"{value!r} is neither a number of steps (250) nor a time with its unit "
                      "(30s, 2m)", param, ctx)
        return Seconds(Duration().convert(text, param, ctx))


class Count(click.ParamType):
    """A count such as 500000, 500k, 20M or 1.5G."""
    name = "count"
    UNITS = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9}

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


def emit(obj):
    """One JSON object on a line of stdout; infinities and NaN (not JSON) as null."""
    click.echo(json.dumps(finite(obj), ensure_ascii=False, allow_nan=False))


class Group(click.Group):
    """Turns CharrnnError (bad input) into a one-line error and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CharrnnError as e:
            raise click.ClickException(str(e)) from None
        except Interrupted as e:
            click.echo(f"\n{e}", err=True)
            ctx.exit(128 + e.signum)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)


@click.group(cls=Group)
@click.version_option(package_name="charrnn")
def main():
    """Character-level text generator: train a recurrent network (LSTM, GRU,
    vanilla RNN or MUT1-3) on any text file, then sample."""
    from .lifeline import follow_parent
    follow_parent()  # a sweep's trial: dies with the sweep or worker that started it


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
    return click.option(option_name(f.name), default=default, show_default=default is not None,
                        type=click.Choice(list(choices)) if choices else
                        PARSERS.get(f.name, f.type), help=help_text)


def config_options(group):
    """A decorator: the options of TrainConfig's fields of ``group`` (config.MODEL, RUN)."""
    def decorate(command):
        for f in reversed(option_fields(group)):
            command = config_option(f)(command)
        return command
    return decorate


model_options = config_options(MODEL)  # what shapes a model and its training: train's, a sweep's


@main.command()
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@model_options
@config_options(RUN)
@click.option("--out", type=click.Path(file_okay=False),
              help="Run directory [default: checkpoints/<corpus name>, or -2, -3, ... when "
              "that holds another run].")
@click.option("--force", is_flag=True,
              help="Replace the run in --out: delete its checkpoints when training starts.")
@click.option("--resume", is_flag=False, flag_value="", default=None, metavar="[CHECKPOINT]",
              type=click.Path(dir_okay=False),
              help="Continue a run exactly where CHECKPOINT stopped (alone: last.npz in "
              "--out, or of the newest run of CORPUS); options not given are taken from it.")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON object on stdout after every validation run and at the end.")
@click.option("--quiet", is_flag=True, help="No progress bar or messages.")
@click.pass_context
def train(ctx, corpus, out, force, resume, as_json, quiet, **options):
    """Train a model on the text file CORPUS.

    Writes checkpoints at every validation run: step<N>_val<LOSS>.npz (the
    newest --keep of them), best.npz (lowest validation loss) and last.npz.
    Ctrl-C (or SIGTERM) saves last.npz and stops; --resume continues from it.

    \b
    Examples:
      charrnn train shakespeare.txt --max-time 15m
      charrnn train shakespeare.txt --resume --max-time 1h
      charrnn train shakespeare.txt --out runs/big --hidden 1024 --json
    """
    from .train import error_end

    def log(message):
        if not quiet:
            click.echo(message, err=True)

    ended = []

    def event(e):
        ended.append(e["event"] == "end")
        emit(e)

    try:
        start_run(ctx, corpus, out, force, resume, quiet, log, event if as_json else None,
                  options)
    except CharrnnError as e:
        if as_json and not any(ended):  # scripts read the end object whatever happens
            emit(error_end(out, e))
        raise


PARAMETER_OF = {"eval_seconds": "eval_every"}  # TrainConfig fields set by another option


def start_run(ctx, corpus, out, force, resume, quiet, log, on_event, options):
    """The train command once its options are parsed: which run, in which directory."""
    from .checkpoint import load
    from .runs import claim, newest_run
    from .train import BEFORE_THE_OPTION, TrainConfig, train as run

    explicit = out is not None
    every = options["eval_every"]  # --eval-every is a count of steps or a time
    options["eval_every"], options["eval_seconds"] = \
        (250, float(every)) if isinstance(every, Seconds) else (every, None)
    stem = os.path.splitext(os.path.basename(corpus))[0]
    if resume is not None:
        if resume == "":
            resume = os.path.join(out, "last.npz") if explicit else newest_run("checkpoints", stem)
            if resume is None:
                raise CharrnnError(f"--resume: no run of {stem} under checkpoints/ to continue; "
                                   "name its checkpoint or --out")
        saved = load(resume, weights=False).train_config
        for name in options:  # options not on the command line continue the run's
            if ctx.get_parameter_source(PARAMETER_OF.get(name, name)) is \
                    click.core.ParameterSource.DEFAULT:
                if name in saved:
                    options[name] = saved[name]
                elif name in BEFORE_THE_OPTION:
                    options[name] = BEFORE_THE_OPTION[name]
        out = out or os.path.dirname(resume) or "."
    out = out or os.path.join("checkpoints", stem)
    if options["threads"] is None:
        del options["threads"]  # TrainConfig's default depends on the machine
    cfg = TrainConfig(**options)
    cfg.check()
    run_dir = claim(out, explicit=explicit, force=force, resume=resume, log=log)
    if resume:
        log(f"resuming {resume}")
    run(corpus, cfg, run_dir.path, quiet=quiet, log=log, resume=resume, run_dir=run_dir,
        on_event=on_event)


@main.command()
@click.argument("checkpoint", required=False, type=click.Path())
@click.option("--length", "-n", default=2000, show_default=True,
              help="Characters to generate.")
@click.option("--temperature", "-t", default=1.0, show_default=True,
              help="Below 1: safer, more repetitive; above 1: more surprising.")
@click.option("--top-k", default=0, show_default=True,
              help="Sample only among the K most likely characters; 0: all.")
@click.option("--prime", default="", help="Text the model reads first; printed first.")
@click.option("--seed", type=int, help="Seed for reproducible samples [default: random].")
@click.option("--greedy", is_flag=True, help="Always take the most likely character.")
@click.option("--beam", type=int, help="Beam search of this width: the most probable text.")
@click.option("--stop", help="Stop after this string first appears in the output.")
@click.option("--precision", type=click.Choice(CHOICES), default="auto", show_default=True,
              help="Of the weights generation multiplies by: " + ", ".join(
                  f"{name} ({what})" for name, what in PRECISIONS.items())
              + f"; auto is int8 from {AUTO_INT8_PARAMS:,} parameters on, float32 below "
              "(README: Precision).")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object: the text, its settings and the seed used.")
def sample(checkpoint, length, temperature, top_k, prime, seed, greedy, beam, stop, precision,
           as_json):
    """Generate text from CHECKPOINT (a file, or a directory: best.npz of the newest
    run under it; default: checkpoints/).

    Text goes to stdout as it is generated; messages go to stderr.

    \b
    Examples:
      charrnn sample --length 500 --temperature 0.8 --prime "ROMEO:"
      charrnn sample checkpoints/shakespeare/best.npz --beam 7 --length 200
    """
    import secrets

    from .checkpoint import load
    from .runs import latest_best
    from .sample import beam_text, sample_text

    if checkpoint is None or os.path.isdir(checkpoint):
        checkpoint = sweep_best(checkpoint) or latest_best(checkpoint or "checkpoints")
        click.echo(f"using {checkpoint}", err=True)
    ckpt = load(checkpoint)
    precision = resolve(precision, ckpt.params.size)
    if seed is None:
        seed = secrets.randbelow(2 ** 32)  # drawn here so that --json can report it
    log_probability = None
    if beam is not None:
        text, log_probability = beam_text(ckpt, length, beam, prime=prime, seed=seed, stop=stop,
                                          precision=precision)
        pieces = iter([text])
    else:
        pieces = sample_text(ckpt, length, temperature, top_k, greedy, prime=prime, seed=seed,
                             stop=stop, precision=precision)
    first = next(pieces)  # any error in the options shows before the prime is printed
    if as_json:
        text = first + "".join(pieces)
        emit({"checkpoint": checkpoint, "text": text, "prime": prime, "characters": len(text),
              "length": length, "temperature": None if greedy or beam else temperature,
              "top_k": None if greedy or beam else top_k, "greedy": greedy, "beam": beam,
              "stop": stop, "seed": seed, "precision": precision,
              "log_probability": log_probability})
        return
    click.echo(prime + first, nl=False)
    for piece in pieces:
        click.echo(piece, nl=False)
    click.echo()


def sweep_best(directory):
    """best.npz of the best trial when ``directory`` is a sweep's, else None."""
    from .sweep.report import best_checkpoint
    from .sweep.search import CONFIG

    if directory is None or not os.path.isfile(os.path.join(directory, CONFIG)):
        return None
    found = best_checkpoint(directory)
    if found is None:
        raise CharrnnError(f"{directory}: the sweep has no complete trial yet")
    return found


@main.command(name="eval")
@click.argument("checkpoint", type=click.Path())
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--encoding", default="utf-8", show_default=True)
@click.option("--unknown", type=click.Choice(["error", "skip"]), default="error",
              show_default=True, help="Characters the model never saw: an error, or "
              "dropped from the text (and counted).")
@click.option("--precision", type=click.Choice(CHOICES), default="auto",
              show_default=True, help="Score the model as `sample` runs it in this precision "
              "(auto: as `sample` chooses).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(checkpoint, file, encoding, unknown, precision, as_json):
    """Loss of CHECKPOINT's model on the text FILE, read as one stream.

    \b
    Example:
      charrnn eval checkpoints/shakespeare/best.npz held_out.txt --json
    """
    from .checkpoint import load
    from .data.corpus import load_corpus, show
    from .decode import rounded_params
    from .evaluate import stream_loss
    from .kernels.threads import default_threads, use_threads

    ckpt = load(checkpoint)
    text = load_corpus(file, encoding, vocab=ckpt.vocab, skip_unknown=unknown == "skip")
    if text.skipped:
        click.echo(f"{file}: skipped {text.skipped:,} characters the model never saw "
                   f"({show(text.skipped_chars)})", err=True)
    if len(text.ids) < 2:
        raise CharrnnError(f"{file}: needs at least 2 characters to predict one")
    precision = resolve(precision, ckpt.params.size)
    # In place: the checkpoint is not used otherwise (a copy would be 13 MB at 2x512).
    params = rounded_params(ckpt.params, ckpt.model, precision, in_place=True)
    started = time.perf_counter()
    total, count = stream_loss(params, ckpt.model, text.ids,
                               blocks=use_threads(default_threads()))
    seconds = time.perf_counter() - started
    loss = total / count
    report = {"checkpoint": checkpoint, "file": file, "loss": loss, "bits_per_char":
              loss / math.log(2), "perplexity": math.exp(loss) if loss < 709 else math.inf,
              "characters": count,
              "skipped": text.skipped, "precision": precision,
              "chars_per_second": count / seconds}
    if as_json:
        emit(report)
    else:
        click.echo(f"{file}: {loss:.4f} nats/char, {report['bits_per_char']:.4f} bits/char, "
                   f"perplexity {report['perplexity']:.3f} over {count:,} characters "
                   f"({report['chars_per_second']:,.0f} char/s"
                   + (f", {precision} weights)" if precision != "float32" else ")"))


SORT_KEYS = {"best": "best_val_loss", "last": "last_val_loss", "name": "run", "steps": "steps",
             "epochs": "epochs", "params": "parameters", "time": "train_seconds",
             "written": "written", "cell": "cell", "corpus": "corpus"}


@main.command()
@click.argument("directory", required=False, default="checkpoints",
                type=click.Path(file_okay=False))
@click.option("--sort", type=click.Choice(list(SORT_KEYS)), default="best", show_default=True,
              help="The column to sort by (losses and names ascending, the others newest or "
              "largest first).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the runs.")
def runs(directory, sort, as_json):
    """List the runs under DIRECTORY (default: checkpoints/), best validation loss first.

    \b
    Examples:
      charrnn runs
      charrnn runs checkpoints --sort written --json
    """
    from .runs import list_runs

    if not os.path.isdir(directory) and (os.path.exists(directory) or directory != "checkpoints"):
        raise CharrnnError(f"{directory}: no such directory")  # no checkpoints/ yet: no runs
    rows = list_runs(directory)
    key = SORT_KEYS[sort]
    ascending = sort in ("best", "last", "name", "cell", "corpus")
    present = [r for r in rows if r[key] is not None]
    present.sort(key=lambda r: r[key], reverse=not ascending)
    rows = present + sorted((r for r in rows if r[key] is None), key=lambda r: r["run"])
    if as_json:
        emit(rows)
        return
    if not rows:
        click.echo(f"no runs under {directory}", err=True)
        return
    click.echo(runs_table(rows))


def runs_table(rows):
    def number(x, fmt):
        return "-" if x is None else format(x, fmt)

    def hours(seconds):
        if seconds is None:
            return "-"
        seconds = round(seconds)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    header = ("run", "status", "cell", "size", "params", "steps", "epochs", "best", "last",
              "time", "corpus", "sha256", "written")
    lines = [header]
    for r in rows:
        status = r["status"]
        if status == "training" and r["holder"]:
            status += " (" + r["holder"].split(",")[0] + ")"  # "training (pid 123)"
        lines.append((
            r["run"], status, r["cell"] or "-",
            f"{r['layers']}x{r['hidden']}" if r["layers"] else "-",
            number(r["parameters"], ","), number(r["steps"], ","), number(r["epochs"], ".2f"),
            number(r["best_val_loss"], ".4f"), number(r["last_val_loss"], ".4f"),
            hours(r["train_seconds"]), r["corpus"] or "-",
            (r["corpus_sha256"] or "-")[:12], (r["written"] or "-")[:19].replace("T", " ")))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    right = {"params", "steps", "epochs", "best", "last", "time"}
    out = []
    for line in lines:
        out.append("  ".join(str(v).rjust(w) if h in right else str(v).ljust(w)
                             for h, v, w in zip(header, line, widths)).rstrip())
    damaged = [r for r in rows if r["status"] == "damaged"]
    out += [f"{r['run']}: {r['error']}" for r in damaged]
    return "\n".join(out)


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def info(checkpoint, as_json):
    """Everything in CHECKPOINT: model, training options, corpus, vocabulary,
    position, histories and file format.

    \b
    Example:
      charrnn info checkpoints/shakespeare/best.npz --json
    """
    from .info import describe, report

    if os.path.isdir(checkpoint):
        raise CharrnnError(f"{checkpoint}: is a directory; name a checkpoint in it "
                           "(best.npz, last.npz), or list its runs with charrnn runs")
    facts = report(checkpoint)
    if as_json:
        emit(facts)
    else:
        click.echo(describe(facts))


@main.command()
@click.argument("name", required=False, type=click.Choice(NAMES), metavar="NAME")
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="Where to write it [default: corpora/NAME.txt].")
@click.option("--size", default=1_000_000, show_default=True,
              help="Built corpora (stdlib, c): size in bytes.")
@click.option("--url", help="Downloaded corpora: fetch from this mirror (or file:// path) "
              "instead; the pinned SHA-256 is still checked.")
@click.option("--source", type=click.Path(exists=True, file_okay=False),
              help="Built corpora: build from the files under this directory instead.")
@click.option("--list", "list_", is_flag=True, help="List the named corpora.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
def corpus(name, out, size, url, source, list_, as_json):
    """Build the named corpus NAME (see --list): downloaded from a pinned URL and
    checked against its SHA-256, or built from files on this machine (offline).

    \b
    Examples:
      charrnn corpus --list
      charrnn corpus stdlib && charrnn train corpora/stdlib.txt --max-time 2m
      charrnn corpus warpeace
    """
    from .data.datasets import build, listing

    if list_:
        rows = listing()
        if as_json:
            emit(rows)
        else:
            width = max(len(r["name"]) for r in rows)
            for r in rows:
                size_text = f"{r['bytes']:,} bytes" if r["bytes"] else "--size bytes"
                click.echo(f"{r['name'].ljust(width)}  {r['kind']:8}  {size_text:>16}  "
                           f"{r['description']}; from {r['origin']}")
        return
    if name is None:
        raise click.UsageError(f"name a corpus ({', '.join(NAMES)}) or use --list")
    out = out or os.path.join("corpora", f"{name}.txt")
    report = build(name, out, size, url=url, source=source)
    if as_json:
        emit(report)
    click.echo(f"wrote {out} ({report['bytes']:,} bytes, sha256 {report['sha256'][:12]})",
               err=True)


def need_extra(module, extra, command):
    """Import ``module`` of an optional extra, or say which extra to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CharrnnError(f"charrnn {command} needs the optional extra {extra!r}: "
                           f"pip install 'charrnn[{extra}]'") from None


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def export(checkpoint, out):
    """Write CHECKPOINT's weights to OUT as safetensors: under PyTorch's names,
    shapes and gate order for the LSTM (nn.LSTM) and the RNN (nn.RNN), under
    charrnn's own names for the GRU and the MUTs, whose equations PyTorch does
    not have.  The vocabulary and configuration go in the file's metadata.

    \b
    Example:
      charrnn export checkpoints/shakespeare/best.npz shakespeare.safetensors
    """
    from .checkpoint import load
    from .export import write

    need_extra("safetensors", "export", "export")
    ckpt = load(checkpoint)
    try:
        metadata = write(ckpt, out)
    except OSError as e:
        raise CharrnnError(f"cannot write {out} ({e.strerror})") from None
    module = metadata["pytorch_module"]
    if module == "none":
        click.echo(f"wrote {out}: the {ckpt.model.cell.upper()} under charrnn's own names "
                   "(PyTorch has no module with its equations; see the README)", err=True)
    else:
        click.echo(f"wrote {out}: nn.{module} as 'rnn' and nn.Linear as 'decoder'", err=True)


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--x", "axis", type=click.Choice(["step", "chars", "time"]), default="step",
              show_default=True, help="Against steps, training characters seen, or training "
              "wall-clock seconds.")
@click.option("--png", type=click.Path(dir_okay=False), help="Write a PNG image here instead.")
@click.option("--width", type=click.IntRange(20), help="Terminal plot width [default: the "
              "terminal's].")
@click.option("--height", type=click.IntRange(8), help="Terminal plot height.")
def plot(runs, axis, png, width, height):
    """Training and validation loss of RUNS (run directories or checkpoints;
    a directory of runs, such as a sweep's, stands for all of them, best first),
    overlaid: in the terminal, or with --png into an image.

    \b
    Examples:
      charrnn plot checkpoints/shakespeare checkpoints/shakespeare-2 --x time
      charrnn plot checkpoints/* --png losses.png
    """
    from .plot import load_curves, png as write_png, terminal

    need_extra("matplotlib" if png else "plotext", "plot", "plot")
    curves = [load_curves(path, axis) for path in expand_runs(runs)]
    if png:
        try:
            write_png(curves, axis, png)
        except OSError as e:
            raise CharrnnError(f"cannot write {png} ({e.strerror})") from None
        click.echo(f"wrote {png}", err=True)
    else:
        color = sys.stdout.isatty()
        click.echo(terminal(curves, axis, width, height, color))


@main.command()
@click.argument("corpus", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--param", "params", multiple=True, metavar="NAME=VALUES",
              help="A train option to search: a list (hidden=128,256), a range (layers=1:3, "
              "dropout=0:0.3), on a log scale (lr=1e-3:1e-2:log) or in steps "
              "(hidden=128:512:64).  Repeat for each option.")
@click.option("--trials", default=20, show_default=True,
              help="Trials to run (complete, pruned or failed).")
@click.option("--trial-time", type=Duration(), help="Training time of a trial, e.g. 3m "
              "[default: 5m].")
@click.option("--trial-steps", type=int, help="Instead: training steps of a trial.")
@click.option("--trial-chars", type=Count(), help="Instead: training characters of a trial, "
              "e.g. 5M.")
@click.option("--reports", default=8, show_default=True,
              help="Validation runs of a trial, evenly over its budget: the points where "
              "trials are compared and pruned.")
@click.option("--pruner", type=click.Choice(PRUNERS), default="median", show_default=True,
              help="Stop trials that lag: median (below the median of the others at the same "
              "point), halving (successive halving) or none.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run the trials on this Dask "
              "cluster instead of this machine.")
@click.option("--jobs", type=click.IntRange(1), help="Trials at once [default: this machine's "
              "CPUs / --threads; on a cluster, its worker threads].")
@click.option("--out", type=click.Path(file_okay=False),
              help="Sweep directory [default: sweeps/<corpus name>-<date>-<time>].")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue the sweep in this directory (stopped or killed).")
@model_options
@click.option("--json", "as_json", is_flag=True,
              help="A JSON object on stdout for every trial that ends, and one at the end.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
@click.pass_context
def sweep(ctx, corpus, params, trials, trial_time, trial_steps, trial_chars, reports, pruner,
          scheduler, jobs, out, resume, as_json, quiet, **options):
    """Search train options on CORPUS with Optuna: each trial trains a model
    for --trial-time, trials that lag are pruned, and the table at the end
    lists them by best validation loss.  Trials run on this machine, or on a
    Dask cluster with --scheduler.  Needs the extra: pip install 'charrnn[sweep]'.

    \b
    Examples:
      charrnn sweep shakespeare.txt --trials 12 --trial-time 3m --param hidden=256,512
      charrnn sweep shakespeare.txt --param lr=1e-3:1e-2:log --param dropout=0:0.3
      charrnn sweep shakespeare.txt --scheduler tcp://10.0.0.5:8786 ...
      charrnn sweep --resume sweeps/shakespeare-20261202-101500
      charrnn sample sweeps/shakespeare-20261202-101500   # its best model
    """
    from .sweep import report, search

    def log(message):
        if not quiet:
            click.echo(message, err=True)

    need_extra("optuna", "sweep", "sweep")
    if scheduler:
        need_extra("distributed", "sweep", "sweep --scheduler")
    given = {name for name in list(options) + ["params", "trial_time", "trial_steps",
                                                "trial_chars", "reports", "pruner", "out"]
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    if resume:
        if given:
            first = sorted(given)[0]
            name = "--param" if first == "params" else "--" + first.replace("_", "-")
            raise CharrnnError(f"--resume: {name} was fixed when the sweep started; with "
                               "--resume give only --trials, --scheduler or --jobs")
        cfg = search.load_config(resume)
        if ctx.get_parameter_source("trials") is not click.core.ParameterSource.DEFAULT:
            cfg.trials = trials
        cfg.check()
        sweep_dir = resume
        source = corpus or cfg.corpus
        if not os.path.isfile(source) or search.file_sha256(source) != cfg.corpus_sha256:
            raise CharrnnError(f"--resume: {source} is not the text the sweep trained on "
                               f"(sha256 {cfg.corpus_sha256[:12]}); name the corpus it used")
        corpus = source
    else:
        if corpus is None:
            raise click.UsageError("name a CORPUS (or --resume a sweep)")
        from .data.corpus import load_corpus
        from .sweep import space

        fixed = {name: value for name, value in options.items()
                 if name in given and name != "seed"}
        cfg = search.SweepConfig(
            corpus=os.path.abspath(corpus), corpus_sha256=search.file_sha256(corpus),
            trials=trials, params=[space.to_dict(p) for p in space.parse_all(params)],
            fixed=fixed, trial_time=trial_time if trial_time or trial_steps or trial_chars
            else 300.0, trial_steps=trial_steps, trial_chars=trial_chars, reports=reports,
            pruner=pruner, seed=options["seed"])
        cfg.check()
        load_corpus(corpus, options["encoding"])  # a text it can train on, before anything starts
        stem = os.path.splitext(os.path.basename(corpus))[0]
        sweep_dir = out or os.path.join(
            "sweeps", f"{stem}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
        search.create(sweep_dir, cfg)
        log(f"sweep in {sweep_dir}: {cfg.trials} trials of "
            + (f"{cfg.trial_time:g} s" if cfg.trial_time else f"{cfg.trial_steps} steps"
               if cfg.trial_steps else f"{cfg.trial_chars:,} characters")
            + "; searching " + "; ".join(space.from_dict(p).describe() for p in cfg.params))
    held = search.lock(sweep_dir)
    try:
        if scheduler:
            from .sweep.cluster import DaskTrials
            executor = DaskTrials(scheduler, corpus, cfg.id, jobs)
        else:
            from .sweep.local import LocalTrials, default_jobs
            executor = LocalTrials(corpus, jobs or default_jobs(cfg.fixed.get("threads")))
        try:
            found = search.run(sweep_dir, cfg, executor, log,
                               (lambda row: emit({"event": "trial", **row})) if as_json else None)
        except Interrupted:
            if as_json:
                found = report.rows(search.open_study(sweep_dir, cfg), sweep_dir, True)
                emit({"event": "end", "sweep_dir": sweep_dir, "stopped": "signal",
                      "best": report.best(found), "trials": found})
            raise
        finally:
            executor.close()
    finally:
        held.release()
    top = report.best(found)
    if as_json:
        emit({"event": "end", "sweep_dir": sweep_dir, "stopped": None, "best": top,
              "trials": found})
    else:
        click.echo(report.table(found, [p["name"] for p in cfg.params]))
    if top is None:
        raise CharrnnError(f"no trial of the sweep in {sweep_dir} completed (the table says why)")
    log(f"best: trial {top['trial']}, validation loss {top['best_val_loss']:.4f}: "
        f"{top['best_checkpoint']}\nsample it with: charrnn sample {sweep_dir}")


def expand_runs(paths):
    """Run directories and checkpoints as given; a directory holding no
    checkpoint of its own but runs under it (a sweep's): those, best first."""
    from .runs import RUN_FILES, list_runs

    found = []
    for path in paths:
        own = os.path.isdir(path) and any(os.path.isfile(os.path.join(path, n))
                                          for n in RUN_FILES)
        rows = list_runs(path) if os.path.isdir(path) and not own else []
        rows = [r for r in rows if r["status"] == "ok"]
        rows.sort(key=lambda r: (r["best_val_loss"] is None, r["best_val_loss"] or 0, r["run"]))
        found += [os.path.join(path, r["run"]) for r in rows] or [path]
    return found


MIN_FIND = 200  # characters: fewer, and every correlation is noise


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer", type=int, help="The unit's layer (0 = the first) [default: the last].")
@click.option("--unit", type=int, help="Show this unit; without it, --find.")
@click.option("--find", "find_units", is_flag=True,
              help="Rank the units by how well they track features of the text (the default "
              "when no --unit is given).")
@click.option("--length", "-n", default=2000, show_default=True,
              help="Characters of FILE shown.")
@click.option("--scan", default=100_000, show_default=True,
              help="--find: characters of FILE the correlations are measured over.")
@click.option("--top", default=3, show_default=True, help="--find: units listed per feature.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Also write one self-contained HTML page: hover for values and predictions.")
@click.option("--encoding", default="utf-8", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="--find: the table as JSON.")
def viz(checkpoint, file, layer, unit, find_units, length, scan, top, html_path, encoding,
        as_json):
    """Show FILE coloured by what a unit of CHECKPOINT's model does as it reads
    it (tanh(c) for LSTM units, h for the other cells), or find the units that
    track features of the text: line position, quotes, brackets, indentation,
    words, comments, paragraphs, speakers.

    \b
    Examples:
      charrnn viz checkpoints/stdlib/best.npz corpora/stdlib.txt
      charrnn viz checkpoints/stdlib/best.npz corpora/stdlib.txt --layer 1 --unit 42 --html u.html
    """
    from .checkpoint import load
    from .data.corpus import read_blocks
    from . import viz as look

    ckpt = load(checkpoint)
    m = ckpt.model
    for name, value in (("--length", length), ("--scan", scan), ("--top", top)):
        if value < 1:
            raise CharrnnError(f"{name} must be at least 1, not {value}")
    if unit is not None or layer is not None:
        layer = m.layers - 1 if layer is None else layer
        if not 0 <= layer < m.layers:
            raise CharrnnError(f"--layer must be in 0..{m.layers - 1}: the model has "
                               f"{m.layers} layers")
        if unit is None or not 0 <= unit < m.hidden:
            raise CharrnnError(f"--unit must be in 0..{m.hidden - 1} (the layer's units)")
    if find_units and unit is not None:
        raise CharrnnError("--find ranks the units; --unit shows one: give one of them")
    if as_json and unit is not None:
        raise CharrnnError("--json reports what --find finds; with --unit, leave it out")
    find_units = find_units or unit is None
    wanted = max(length, scan) if find_units else length
    text = ""
    for block in read_blocks(file, encoding):
        text += block[:wanted - len(text)]
        if len(text) >= wanted:
            break
    text = text.replace("\r", "")
    if find_units and len(text) < MIN_FIND:
        raise CharrnnError(f"{file}: {len(text):,} characters; --find needs at least "
                           f"{MIN_FIND:,} for correlations that mean something")
    if not text:
        raise CharrnnError(f"{file}: the file is empty")
    ckpt.vocab.encode(text, what=file)  # unknown characters: one message naming them
    shown = text[:length]
    if find_units:
        scanned = text[:max(scan, len(shown))]  # the shown part is always measured too
        findings, constant, acts, probs = look.find(ckpt, scanned, top, len(shown))
        if as_json:
            emit({"checkpoint": checkpoint, "file": file, "characters": len(scanned),
                  "findings": [vars(f) for f in findings], "constant_features": constant})
        else:
            click.echo(look.correlation_table(findings))
            if constant:
                click.echo(f"(constant in this text, so not measured: {', '.join(constant)})")
        best = look.best_per_feature(findings)
        units = [(f.layer, f.unit, f"layer {f.layer} unit {f.unit}: {f.feature} "
                  f"(r = {f.correlation:+.2f})") for f in best]
    else:
        acts, probs = look.run(ckpt, ckpt.vocab.encode(shown), keep=len(shown))
        units = [(layer, unit, f"layer {layer} unit {unit}")]
    if not units:
        raise CharrnnError(f"{file}: no feature varies in its first {len(text):,} characters")
    if html_path:
        values = [acts[:, l, u] for l, u, _ in units]
        page = look.page(shown, [label for _, _, label in units], values, probs,
                         ckpt.vocab.chars, f"{checkpoint}: {os.path.basename(file)}")
        from .files import write_atomically
        try:
            write_atomically(html_path, lambda f: f.write(page.encode("utf-8")))
        except OSError as e:
            raise CharrnnError(f"cannot write {html_path} ({e.strerror})") from None
        click.echo(f"wrote {html_path}", err=True)
    if as_json:
        return
    l, u, label = units[0]
    gap = "\n" if find_units else ""  # after the table
    if sys.stdout.isatty():
        click.echo(f"{gap}{label}:")
        click.echo(look.terminal(shown, acts[:, l, u]))
    else:
        click.echo(f"{gap}{label}: each character and the unit's value")
        click.echo(look.plain(shown, acts[:, l, u]))
