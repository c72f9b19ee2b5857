"""What runs hold: ``charrnn runs`` (their table), ``info`` (one checkpoint's
facts) and ``plot`` (their loss curves)."""

import sys

import click

from ..errors import CharrnnError
from ..tables import SORT_KEYS
from .options import (
    CheckpointPath,
    emit,
    force_option,
    json_option,
    need_extra,
    output,
    refuse_to_replace,
    refuse_together,
)


@click.command(short_help="List the runs under a directory, best first.")
@click.argument(
    "directory", required=False, default="checkpoints", type=click.Path(file_okay=False)
)
@click.option(
    "--sort",
    type=click.Choice(list(SORT_KEYS)),
    default="best",
    show_default=True,
    help="The column to sort by (losses and names ascending, the others newest or largest first).",
)
@json_option("A JSON array of the runs.")
def runs(directory, sort, as_json):
    """List the runs under DIRECTORY (default: checkpoints/), best validation loss first.

    \b
    Examples:
      charrnn runs
      charrnn runs checkpoints --sort written --json
    """
    from ..runs import list_runs
    from ..tables import runs_table

    rows = list_runs(directory, sort=sort)
    if as_json:
        emit(rows)
    elif rows:
        output(runs_table(rows))
    else:
        click.echo(f"no runs under {directory}", err=True)


@click.command(short_help="Everything in a checkpoint but its weights.")
@click.argument("checkpoint", type=CheckpointPath())
@json_option("One JSON object.")
def info(checkpoint, as_json):
    """Everything in CHECKPOINT (a file, or a run directory: its best.npz):
    model, training options, corpus, vocabulary, position, histories and file
    format.

    \b
    Example:
      charrnn info checkpoints/shakespeare/best.npz --json
    """
    from ..info import describe, report

    facts = report(checkpoint)
    if as_json:
        emit(facts)
    else:
        output(describe(facts))


@click.command(short_help="Plot the loss curves of runs.")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--x",
    "axis",
    type=click.Choice(["step", "chars", "time"]),
    default="step",
    show_default=True,
    help="Against steps, training characters seen, or training wall-clock seconds.",
)
@click.option("--png", type=click.Path(dir_okay=False), help="Write a PNG image here instead.")
@force_option("Replace the file --png names if it exists.")
@click.option(
    "--width", type=click.IntRange(20), help="Terminal plot width [default: the terminal's]."
)
@click.option("--height", type=click.IntRange(8), help="Terminal plot height.")
@click.pass_context
def plot(ctx, runs, axis, png, force, width, height):
    """Training and validation loss of RUNS (run directories or checkpoints;
    a directory of runs, such as a sweep's, stands for all of them, best first),
    overlaid: in the terminal, or with --png into an image.

    \b
    Examples:
      charrnn plot checkpoints/shakespeare checkpoints/shakespeare-2 --x time
      charrnn plot checkpoints/* --png losses.png
    """
    from ..plot import load_curves, png as write_png, terminal
    from ..runs import expand_runs

    refuse_together(
        ctx, [("png", ("width", "height"), "--width and --height size the terminal's plot")]
    )
    refuse_to_replace(png, force)
    need_extra("matplotlib" if png else "plotext", "plot", "plot")
    curves = [load_curves(path, axis) for path in expand_runs(runs)]
    if png:
        try:
            write_png(curves, axis, png)
        except OSError as e:
            raise CharrnnError(f"cannot write {png} ({e.strerror})") from None
        click.echo(f"wrote {png}", err=True)
    else:
        output(terminal(curves, axis, width=width, height=height, color=sys.stdout.isatty()))
