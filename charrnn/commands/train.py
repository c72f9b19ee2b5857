"""``charrnn train``: a run of api.train, its options made from TrainConfig's fields."""

import click

from ..config import RUN
from .options import (
    CheckpointPath,
    Seconds,
    config_options,
    emit,
    force_option,
    given_options,
    json_option,
    model_options,
)


@click.command(short_help="Train a model on a text file.")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@model_options
@config_options(RUN)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Run directory [default: checkpoints/<corpus name>, or -2, -3, ... when "
    "that holds another run].",
)
@force_option("Replace the run in --out: delete its checkpoints when training starts.")
@click.option(
    "--resume",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[CHECKPOINT]",
    type=CheckpointPath("last.npz"),
    help="Continue a run exactly where CHECKPOINT (a file, or a run directory: its "
    "last.npz) stopped (alone: last.npz in --out, or of the newest run of CORPUS); "
    "options not given are taken from it.",
)
@json_option("A JSON object on stdout after every validation run and at the end.")
@click.option("--quiet", is_flag=True, help="No progress bar or messages.")
@click.pass_context
def train(ctx, corpus, out, force, resume, as_json, quiet, **options):
    """Train a model on the text file CORPUS.

    Writes checkpoints at every validation run: step<N>_val<LOSS>.npz (the
    newest --keep of them), best.npz (lowest validation loss) and last.npz.
    Ctrl-C (or SIGTERM, or closing the terminal: SIGHUP) saves last.npz and
    stops; --resume continues from it.

    \b
    Examples:
      charrnn train shakespeare.txt --max-time 15m
      charrnn train shakespeare.txt --resume --max-time 1h
      charrnn train shakespeare.txt --out runs/big --hidden 1024 --json
    """
    from ..api import train as run

    given = given_options(ctx, options)
    if isinstance(given.get("eval_every"), Seconds):  # --eval-every 30s: a time
        given["eval_seconds"] = float(given.pop("eval_every"))
    run(
        corpus,
        out=out,
        force=force,
        resume=True if resume == "" else resume,
        quiet=quiet,
        on_event=emit if as_json else None,
        **given,
    )
