"""``charrnn eval``: a model's loss on a text file (evaluate.evaluate_file)."""

from dataclasses import asdict

import click

from .options import (
    CheckpointPath,
    emit,
    encoding_option,
    json_option,
    output,
    precision_option,
    threads_option,
)


@click.command(name="eval", short_help="A model's loss on a text file.")
@click.argument("checkpoint", type=CheckpointPath())
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@encoding_option("FILE")
@click.option(
    "--unknown",
    type=click.Choice(["error", "skip"]),
    default="error",
    show_default=True,
    help="Characters the model never saw: an error, or dropped from the text (and counted).",
)
@precision_option
@threads_option
@json_option("Print one JSON object.")
def evaluate(checkpoint, file, encoding, unknown, precision, threads, as_json):
    """Loss of CHECKPOINT's model (a file, or a run directory: its best.npz) on
    the text FILE, read as one stream.

    \b
    Example:
      charrnn eval checkpoints/shakespeare/best.npz held_out.txt --json
    """
    from ..checkpoint import load
    from ..data.corpus import show
    from ..evaluate import evaluate_file

    found = evaluate_file(
        load(checkpoint),
        file,
        precision,
        encoding=encoding,
        skip_unknown=unknown == "skip",
        threads=threads,
    )
    if found.skipped:
        click.echo(
            f"{file}: skipped {found.skipped:,} characters the model never saw "
            f"({show(found.skipped_chars)})",
            err=True,
        )
    loss = found.loss
    report = {
        "checkpoint": checkpoint,
        "file": file,
        **asdict(loss),
        "skipped": found.skipped,
        "precision": found.precision,
        "chars_per_second": loss.characters / found.seconds,
    }
    if as_json:
        emit(report)
    else:
        output(
            f"{file}: {loss.loss:.4f} nats/char, {loss.bits_per_char:.4f} bits/char, "
            f"perplexity {loss.perplexity:.3f} over {loss.characters:,} characters "
            f"({report['chars_per_second']:,.0f} char/s"
            + (f", {found.precision} weights)" if found.precision != "float32" else ")")
        )
