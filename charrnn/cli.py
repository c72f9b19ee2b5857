"""The command line: ``charrnn COMMAND``, one click group over the commands in
commands/ (each a thin layer over the library: parse, one call, print text or
JSON).  Every command that reports something has ``--json``: one JSON object
per line on stdout, human messages on stderr."""
import datetime
import os

import click

from .commands.corpus import corpus
from .commands.evaluate import evaluate
from .commands.export import export
from .commands.options import Count, Duration, emit, model_options, need_extra
from .commands.runs import info, plot, runs
from .commands.sample import sample
from .commands.train import train
from .commands.viz import viz
from .errors import CharrnnError, Interrupted
from .sweep import PRUNERS


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
    # Numba's threads (GNU OpenMP) wait for work by spinning, 300,000 rounds by
    # default.  When another program holds a core, a thread spinning at a step's
    # barrier steals the time its partner needs: measured, 2-thread training of
    # a 2x128 model fell from 66k to 21k chars/s.  10,000 rounds (microseconds)
    # still bridge the gaps between a sampling step's products, then sleep: 31k.
    # Read when the OpenMP library loads, at the first parallel kernel: here,
    # before any command runs one.  The command line's choice for its own
    # process; a library user sets it or not (docs/api.md: Threads).
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    from .lifeline import follow_parent
    follow_parent()  # a sweep's trial: dies with the sweep or worker that started it


for command in (train, sample, evaluate, runs, info, corpus, export, plot, viz):
    main.add_command(command)


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
