"""``charrnn sweep``: a search of train options with Optuna, on this machine
or a Dask cluster (sweep/start.py does it)."""

import click

from ..errors import CharrnnError
from ..sweep import PRUNERS
from ..sweep.space import SEARCHABLE_NAMES
from .options import (
    Count,
    Duration,
    emit,
    given,
    given_options,
    json_option,
    model_options,
    need_extra,
)


# The sweep's own options; the others are train options fixed for every trial.
SWEEP_SETTINGS = (
    "params",
    "trials",
    "trial_time",
    "trial_steps",
    "trial_chars",
    "reports",
    "pruner",
    "scheduler",
    "jobs",
    "out",
    "resume",
)


@click.command(short_help="Search train options with Optuna, here or on a cluster.")
@click.argument("corpus", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUES",
    help="A train option to search: a list (hidden=128,256), a range (layers=1:3, "
    "dropout=0:0.3), on a log scale (lr=1e-3:1e-2:log) or in steps "
    f"(hidden=128:512:64).  Repeat for each option.  NAME is one of: {SEARCHABLE_NAMES}.",
)
@click.option(
    "--trials", default=20, show_default=True, help="Trials to run (complete, pruned or failed)."
)
@click.option(
    "--trial-time", type=Duration(), help="Training time of a trial, e.g. 3m [default: 5m]."
)
@click.option("--trial-steps", type=int, help="Instead: training steps of a trial.")
@click.option(
    "--trial-chars", type=Count(), help="Instead: training characters of a trial, e.g. 5M."
)
@click.option(
    "--reports",
    default=8,
    show_default=True,
    help="Validation runs of a trial, evenly over its budget: the points where "
    "trials are compared and pruned.",
)
@click.option(
    "--pruner",
    type=click.Choice(PRUNERS),
    default="median",
    show_default=True,
    help="Stop trials that lag: median (below the median of the others at the same "
    "point), halving (successive halving) or none.",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="Run the trials on this Dask cluster instead of this machine.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1),
    help="Trials at once [default: this machine's "
    "CPUs / --threads; on a cluster, its worker threads].",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Sweep directory [default: sweeps/<corpus name>-<date>-<time>].",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False),
    help="Continue the sweep in this directory (stopped or killed): its trials cut "
    "off, or failed because their workers were lost, run again.",
)
@model_options
@json_option("A JSON object on stdout for every trial that ends, and one at the end.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
@click.pass_context
def sweep(ctx, corpus, as_json, quiet, **options):
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
    from ..sweep.start import sweep as run_sweep

    def log(message):
        if not quiet:
            click.echo(message, err=True)

    settings = {name: options.pop(name) for name in SWEEP_SETTINGS}
    for name in ("trials", "reports", "pruner"):  # else the sweep's own (or resumed) value
        settings[name] = settings[name] if given(ctx, name) else None
    need_extra("optuna", "sweep", "sweep")
    if settings["scheduler"]:
        need_extra("distributed", "sweep", "sweep --scheduler")
    result = run_sweep(
        corpus,
        options=given_options(ctx, options),
        log=log,
        on_event=emit if as_json else None,
        **settings,
    )
    if not as_json:
        click.echo(result.table())
    top = result.best
    if top is None:
        raise CharrnnError(
            f"no trial of the sweep in {result.directory} completed (the table says why)"
        )
    log(
        f"best: trial {top['trial']}, validation loss {top['best_val_loss']:.4f}: "
        f"{top['best_checkpoint']}\nsample it with: charrnn sample {result.directory}"
    )
