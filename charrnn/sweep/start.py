"""A sweep in one call (what ``charrnn sweep`` runs): a new sweep checked and
its directory made, or a stopped one resumed; its trials run to the end on
this machine or on a Dask cluster."""

import datetime
import os
from dataclasses import dataclass

from .. import compile_notice
from ..api import message_printer
from ..config import TrainConfig, option_name
from ..data.corpus import file_sha256, load_corpus
from ..errors import CharrnnError, Conflict
from . import report, search, space

TRIAL_SECONDS = 300.0  # a trial's budget when none is given


@dataclass
class SweepResult:
    directory: str
    trials: list  # report.rows: a row per trial, best first
    searched: list  # the names of the options searched

    @property
    def best(self):
        """The best complete trial's row, or None."""
        return report.best(self.trials)

    def table(self):
        return report.table(self.trials, self.searched)


def sweep(
    corpus=None,
    *,
    params=(),
    options=None,
    trials=None,
    trial_time=None,
    trial_steps=None,
    trial_chars=None,
    reports=None,
    pruner=None,
    out=None,
    resume=None,
    scheduler=None,
    jobs=None,
    log=None,
    on_event=None,
):
    """Search train options on the text file ``corpus``; returns a SweepResult.

    params:   what is searched, as --param specs ("hidden=128,256", "lr=1e-3:1e-2:log")
    options:  train options fixed for every trial, by TrainConfig field
              ({"cell": "gru"}); "seed" seeds the search and the trials
    trials:   how many to run [SweepConfig's; resumed: the sweep's]
    trial_time, trial_steps or trial_chars: a trial's budget [TRIAL_SECONDS]
    reports, pruner: validation runs per trial; how trials that lag are stopped
    out:      the sweep directory [sweeps/<corpus name>-<date>-<time>]
    resume:   a sweep directory to continue (``corpus``: where its text is now,
              if moved); only trials, scheduler and jobs may be given with it
    scheduler, jobs: the Dask cluster to run trials on; trials at once
    log:      called with each message [printed to stderr]
    on_event: called with a ``trial`` object for every trial that ends and an
              ``end`` object however the sweep ends (the objects of ``sweep --json``)

    Ctrl-C (or SIGTERM) stops the trials and raises errors.Interrupted; the
    sweep continues with ``resume``.
    """
    options = dict(options or {})
    log = log or message_printer(quiet=False)
    settings = {
        "trial_time": trial_time,
        "trial_steps": trial_steps,
        "trial_chars": trial_chars,
        "reports": reports,
        "pruner": pruner,
    }
    if resume:
        given = [name for name, value in {**settings, "out": out}.items() if value is not None]
        cfg, corpus = resumed(
            resume, corpus, trials, sorted(given + list(options) + (["params"] if params else []))
        )
        sweep_dir = resume
    else:
        cfg, sweep_dir = created(corpus, params, options, trials, settings, out, log)
    found = run_locked(sweep_dir, cfg, corpus, scheduler, jobs, log, on_event)
    return SweepResult(sweep_dir, found, [p["name"] for p in cfg.params])


def run_locked(sweep_dir, cfg, corpus, scheduler, jobs, log, on_event):
    """The sweep's trials, run holding its lock; its trials, best first."""
    held = search.lock(sweep_dir)
    try:
        with compile_notice.told_to(log, "sweep"):
            # The trials compile the kernels quietly, in processes of their own;
            # on a cold cache, loading them here compiles one (kernels/__init__.py),
            # and the sweep's log tells of the wait before the trials start.
            from .. import kernels  # noqa: F401
        executor = trial_runner(corpus, cfg, scheduler, jobs)
        try:
            return search.run(sweep_dir, cfg, executor, log, on_event)
        finally:
            executor.close()
    finally:
        held.release()


def created(corpus, params, options, trials, settings, out, log):
    """A new sweep's config and directory, made and announced."""
    cfg = new_config(corpus, params, options, trials=trials, **settings)
    name = os.path.splitext(os.path.basename(corpus))[0]
    sweep_dir = out or os.path.join("sweeps", f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    search.create(sweep_dir, cfg)
    searched = "; ".join(space.from_dict(p).describe() for p in cfg.params)
    log(f"sweep in {sweep_dir}: {cfg.trials} trials of {trial_budget(cfg)}; searching {searched}")
    return cfg, sweep_dir


def trial_budget(cfg):
    """A trial's budget in words: "60 s", "200 steps" or "500,000 characters"."""
    if cfg.trial_time:
        return f"{cfg.trial_time:g} s"
    if cfg.trial_steps:
        return f"{cfg.trial_steps} steps"
    return f"{cfg.trial_chars:,} characters"


def resumed(sweep_dir, corpus, trials, given):
    """(SweepConfig, corpus path) of the sweep in ``sweep_dir``, with ``trials``
    if given; ``given``: the names of the other settings given, refused."""
    if given:
        name = "--param" if given[0] == "params" else option_name(given[0])
        raise Conflict(
            f"--resume: {name} was fixed when the sweep started; with "
            "--resume give only --trials, --scheduler or --jobs"
        )
    cfg = search.load_config(sweep_dir)
    if trials is not None:
        cfg.trials = trials
    cfg.check()
    source = corpus or cfg.corpus
    if not os.path.isfile(source) or file_sha256(source) != cfg.corpus_sha256:
        raise CharrnnError(
            f"--resume: {source} is not the text the sweep trained on "
            f"(sha256 {cfg.corpus_sha256[:12]}); name the corpus it used"
        )
    return cfg, source


def new_config(corpus, params, options, **settings):
    """The checked SweepConfig of a new sweep on ``corpus``: ``params`` searched
    (--param specs), the train ``options`` fixed, the SweepConfig ``settings``
    not None."""
    if corpus is None:
        raise CharrnnError("name a CORPUS (or --resume a sweep)")
    if all(settings[name] is None for name in ("trial_time", "trial_steps", "trial_chars")):
        settings["trial_time"] = TRIAL_SECONDS
    settings["seed"] = options.get("seed")  # the search's and every trial's
    cfg = search.SweepConfig(
        corpus=os.path.abspath(corpus),
        corpus_sha256=file_sha256(corpus),
        params=[space.to_dict(p) for p in space.parse_all(params)],
        fixed={name: value for name, value in options.items() if name != "seed"},
        **{name: value for name, value in settings.items() if value is not None},
    )
    cfg.check()
    # a text it can train on, before anything starts
    load_corpus(corpus, options.get("encoding", TrainConfig.encoding))
    return cfg


def trial_runner(corpus, cfg, scheduler, jobs):
    """Where the trials run: the Dask cluster at ``scheduler``, or this machine."""
    if scheduler:
        from .cluster import DaskTrials

        return DaskTrials(scheduler, corpus, cfg.id, jobs)
    from .local import LocalTrials, default_jobs

    return LocalTrials(corpus, jobs or default_jobs(cfg.fixed.get("threads")))
