"""The command line: ``charrnn train | sample | eval | corpus``, thin over the library."""
import json
import os
import re
import time

import click

from .cells import CELLS
from .errors import CharrnnError, Interrupted

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


@main.command()
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@click.option("--cell", type=click.Choice(list(CELLS)), default="lstm", show_default=True,
              help="The recurrent cell (see the README for their equations).")
@click.option("--hidden", default=512, show_default=True, help="Units per layer.")
@click.option("--layers", default=2, show_default=True, help="Stacked recurrent layers.")
@click.option("--dropout", default=0.0, show_default=True,
              help="Drop probability between layers and before the decoder.")
@click.option("--seq-length", default=50, show_default=True,
              help="Characters per chunk: how far back gradients flow.")
@click.option("--batch-size", default=50, show_default=True,
              help="Streams of text trained side by side.")
@click.option("--lr", type=float, help="Learning rate [default: 2e-3 for adam and rmsprop, "
              "0.1 for adagrad and sgd].")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop", "adagrad", "sgd"]),
              default="adam", show_default=True)
@click.option("--grad-clip", default=5.0, show_default=True,
              help="Clip the global gradient norm to this; 0: no clipping.")
@click.option("--lr-decay", default=1.0, show_default=True,
              help="Multiply the learning rate by this after every epoch.")
@click.option("--epochs", default=50, show_default=True)
@click.option("--max-steps", type=int, help="Stop after this many steps.")
@click.option("--max-time", type=Duration(), help="Stop after this long, e.g. 10m or 1h30m.")
@click.option("--val-frac", default=0.05, show_default=True,
              help="The last fraction of the text held out for validation.")
@click.option("--eval-every", default=250, show_default=True,
              help="Steps between validation runs (each writes checkpoints).")
@click.option("--seed", default=0, show_default=True, help="Seed for weights and dropout.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Checkpoint directory [default: checkpoints/<corpus name>].")
@click.option("--threads", type=int, help="CPU threads [default: 2, or fewer CPUs if "
              "fewer are available].")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of CORPUS.")
@click.option("--resume", is_flag=False, flag_value="", default=None, metavar="[CHECKPOINT]",
              help="Continue a run exactly where CHECKPOINT (alone: last.npz in --out) "
              "stopped; options not given are taken from it.")
@click.option("--quiet", is_flag=True, help="No progress bar or messages.")
@click.pass_context
def train(ctx, corpus, out, resume, quiet, **options):
    """Train a model on the text file CORPUS.

    Writes checkpoints at every validation run: step<N>_val<LOSS>.npz, best.npz
    (lowest validation loss) and last.npz.  Ctrl-C (or SIGTERM) saves last.npz
    and stops; --resume continues from it.

    \b
    Examples:
      charrnn train shakespeare.txt --max-time 15m
      charrnn train shakespeare.txt --resume --max-time 1h
    """
    from .checkpoint import load
    from .train import TrainConfig, train as run

    out = out or os.path.join("checkpoints", os.path.splitext(os.path.basename(corpus))[0])
    if resume is not None:
        resume = resume or os.path.join(out, "last.npz")
        saved = load(resume).train_config
        for name in options:  # options not on the command line continue the run's
            if ctx.get_parameter_source(name) is click.core.ParameterSource.DEFAULT \
                    and name in saved:
                options[name] = saved[name]
    if options["threads"] is None:
        del options["threads"]  # TrainConfig's default depends on the machine
    cfg = TrainConfig(**options)
    run(corpus, cfg, out, quiet=quiet, log=lambda m: quiet or click.echo(m, err=True),
        resume=resume)


@main.command()
@click.argument("checkpoint", required=False, type=click.Path())
@click.option("--length", "-n", default=2000, show_default=True,
              help="Characters to generate.")
@click.option("--temperature", "-t", default=1.0, show_default=True,
              help="Below 1: safer, more repetitive; above 1: more surprising.")
@click.option("--top-k", default=0, show_default=True,
              help="Sample only among the K most likely characters; 0: all.")
@click.option("--prime", default="", help="Text the model reads first; printed first.")
@click.option("--seed", type=int, help="Seed for reproducible samples.")
@click.option("--greedy", is_flag=True, help="Always take the most likely character.")
@click.option("--beam", type=int, help="Beam search of this width: the most probable text.")
@click.option("--stop", help="Stop after this string first appears in the output.")
def sample(checkpoint, length, temperature, top_k, prime, seed, greedy, beam, stop):
    """Generate text from CHECKPOINT (a file, or a directory: best.npz of the newest
    run under it; default: checkpoints/).

    Text goes to stdout as it is generated; messages go to stderr.

    \b
    Examples:
      charrnn sample --length 500 --temperature 0.8 --prime "ROMEO:"
      charrnn sample checkpoints/shakespeare/best.npz --beam 7 --length 200
    """
    from .checkpoint import find_latest_best, load
    from .sample import beam_text, sample_text

    if checkpoint is None or os.path.isdir(checkpoint):
        checkpoint = find_latest_best(checkpoint or "checkpoints")
        click.echo(f"using {checkpoint}", err=True)
    ckpt = load(checkpoint)
    if beam is not None:
        text = beam_text(ckpt, length, beam, prime=prime, seed=seed, stop=stop)
        click.echo(prime + text, nl=False)
    else:
        pieces = sample_text(ckpt, length, temperature, top_k, greedy, prime=prime, seed=seed,
                             stop=stop)
        first = next(pieces)  # any error in the options shows before the prime is printed
        click.echo(prime + first, nl=False)
        for piece in pieces:
            click.echo(piece, nl=False)
    click.echo()


@main.command(name="eval")
@click.argument("checkpoint", type=click.Path())
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--encoding", default="utf-8", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(checkpoint, file, encoding, as_json):
    """Loss of CHECKPOINT's model on the text FILE, read as one stream.

    \b
    Example:
      charrnn eval checkpoints/shakespeare/best.npz held_out.txt --json
    """
    import math

    from .checkpoint import load
    from .data.corpus import load_corpus
    from .evaluate import stream_loss
    from .kernels.threads import default_threads, use_threads

    ckpt = load(checkpoint)
    ids = load_corpus(file, encoding, vocab=ckpt.vocab).ids
    if len(ids) < 2:
        raise CharrnnError(f"{file}: needs at least 2 characters to predict one")
    started = time.perf_counter()
    total, count = stream_loss(ckpt.params, ckpt.model, ids, blocks=use_threads(default_threads()))
    seconds = time.perf_counter() - started
    loss = total / count
    report = {"checkpoint": checkpoint, "file": file, "loss": loss, "bits_per_char":
              loss / math.log(2), "perplexity": math.exp(loss), "characters": count,
              "chars_per_second": count / seconds}
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(f"{file}: {loss:.4f} nats/char, {report['bits_per_char']:.4f} bits/char, "
                   f"perplexity {report['perplexity']:.3f} over {count:,} characters "
                   f"({report['chars_per_second']:,.0f} char/s)")


@main.command()
@click.argument("name", type=click.Choice(["stdlib", "tinyshakespeare"]))
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="Where to write it [default: corpora/NAME.txt].")
@click.option("--size", default=1_000_000, show_default=True,
              help="stdlib only: size in bytes.")
def corpus(name, out, size):
    """Build a named corpus: stdlib (Python's own source, offline) or
    tinyshakespeare (downloaded, checksum-verified).

    \b
    Example:
      charrnn corpus stdlib && charrnn train corpora/stdlib.txt --max-time 2m
    """
    from .data.datasets import build

    out = out or os.path.join("corpora", f"{name}.txt")
    written = build(name, out, size)
    click.echo(f"wrote {out} ({written:,} bytes)", err=True)
