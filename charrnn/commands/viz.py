"""``charrnn viz``: what the units of a model do as it reads a text (viz.py)."""

import os
import sys

import click

from .options import (
    CheckpointPath,
    emit,
    encoding_option,
    force_option,
    json_option,
    output,
    refuse_to_replace,
    refuse_together,
    threads_option,
)

# Options that exclude each other or do nothing given another: (option, the others, why).
CONFLICTS = (
    ("find_units", ("unit",), "--find ranks the units, --unit shows one; give one of them"),
    (
        "unit",
        ("as_json", "scan", "top"),
        "--json, --scan and --top are --find's, which --unit replaces; leave them out",
    ),
    (
        "layer",
        ("find_units",),
        "--find ranks the units of every layer; --layer goes with --unit",
    ),
)


@click.command(short_help="Show what a model's units do as they read a text.")
@click.argument("checkpoint", type=CheckpointPath())
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--layer", type=int, help="The unit's layer (0 = the first) [default: the last].")
@click.option("--unit", type=int, help="Show this unit; without it, --find.")
@click.option(
    "--find",
    "find_units",
    is_flag=True,
    help="Rank the units by how well they track features of the text (the default "
    "when no --unit is given).",
)
@click.option("--length", "-n", default=2000, show_default=True, help="Characters of FILE shown.")
@click.option(
    "--scan",
    default=100_000,
    show_default=True,
    help="--find: characters of FILE the correlations are measured over.",
)
@click.option("--top", default=3, show_default=True, help="--find: units listed per feature.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Also write one self-contained HTML page: hover for values and predictions.",
)
@force_option("Replace the file --html names if it exists.")
@encoding_option("FILE")
@threads_option
@json_option("--find: the table as JSON.")
@click.pass_context
def viz(
    ctx,
    checkpoint,
    file,
    layer,
    unit,
    find_units,
    length,
    scan,
    top,
    html_path,
    force,
    encoding,
    threads,
    as_json,
):
    """Show FILE coloured by what a unit of CHECKPOINT's model (a file, or a
    run directory: its best.npz) does as it reads it (tanh(c) for LSTM units,
    h for the other cells), or find the units that track features of the
    text: line position, quotes, brackets, indentation, words, comments,
    paragraphs, speakers.

    \b
    Examples:
      charrnn viz checkpoints/stdlib/best.npz corpora/stdlib.txt
      charrnn viz checkpoints/stdlib/best.npz corpora/stdlib.txt --layer 1 --unit 42 --html u.html
    """
    from .. import viz as look
    from .. import viz_show as show
    from ..checkpoint import load
    from ..kernels.threads import run_on, step_work

    refuse_together(ctx, CONFLICTS)
    refuse_to_replace(html_path, force)
    ckpt = load(checkpoint)
    streams = look.STREAMS if find_units else 1  # --find reads up to STREAMS side by side
    run_on(threads, step_work(ckpt.params.size, ckpt.model.layers, streams))
    shown = look.view_file(
        ckpt,
        file,
        layer=layer,
        unit=unit,
        length=length,
        scan=scan,
        top=top,
        encoding=encoding,
    )
    if shown.findings is not None and as_json:
        emit(
            {
                "checkpoint": checkpoint,
                "file": file,
                "characters": shown.scanned,
                "findings": [vars(f) for f in shown.findings],
                "constant_features": shown.constant,
            }
        )
    elif shown.findings is not None:
        output(look.correlation_table(shown.findings))
        if shown.constant:
            output(f"(constant in this text, so not measured: {', '.join(shown.constant)})")
    if html_path:
        show.write_page(html_path, shown, f"{checkpoint}: {os.path.basename(file)}")
        click.echo(f"wrote {html_path}", err=True)
    if as_json:
        return
    layer, unit, label = shown.units[0]
    gap = "\n" if shown.findings is not None else ""  # after the table
    if sys.stdout.isatty():
        output(f"{gap}{label}:")
        output(show.terminal(shown.text, shown.activations[:, layer, unit]))
    else:
        output(f"{gap}{label}: each character and the unit's value")
        output(show.plain(shown.text, shown.activations[:, layer, unit]))
