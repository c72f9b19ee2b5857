"""The search: Optuna's TPE sampler proposes each trial's options, its pruner
stops trials whose validation loss lags the others' at the same point of the
budget, and the study lives in the sweep directory (a journal file: no
database server).  The search runs here, where ``charrnn sweep`` runs; the
trials run on this machine (local.LocalTrials) or on a Dask cluster
(cluster.DaskTrials).

The sweep directory::

    sweep.json        the sweep's configuration (SweepConfig)
    study.journal     the Optuna study
    trials/0007/      each trial's run directory (best.npz, train.log; last.npz here)
    summary.json      every trial's state, loss, options and time, best first
    summary.txt       the same as a table

Trials are compared at the same points of their budget, not at the same
steps: trials of different sizes take very different numbers of steps per
minute.  With a time budget each trial validates every budget/reports
seconds of training and reports against seconds; with a character budget
(--max-chars), every budget/reports characters; with a step budget, against
characters seen.  What a trial reports at such a point is its best
validation loss so far; its objective is its best validation loss.
"""

import dataclasses
import datetime
import json
import math
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from .. import files
from ..config import TrainConfig
from ..errors import CharrnnError, Conflict, Interrupted
from ..interrupts import DeferredSignals
from . import MAX_RERUNS, PRUNERS, report, space
from .study import LOST_WORKERS, done_count, open_study, requeue

CONFIG = "sweep.json"
LOCK = ".sweep.lock"  # not the run lock's name: `charrnn runs` lists trials, not the sweep
STOP_WAIT_SECONDS = 90  # Ctrl-C: how long the trials get to save and end
TRIAL_EPOCHS = 1_000_000  # no limit but the trial's budget
MAX_SEED = 2**32 - 1


@dataclass
class SweepConfig:
    """What a sweep searches and how; fixed when it starts (sweep.json)."""

    corpus: str  # absolute path
    corpus_sha256: str  # of the file: a resumed sweep must train on the same text
    params: list  # space.Param as dicts
    trials: int = 20  # trials to run (complete, pruned or failed)
    fixed: dict = field(default_factory=dict)  # train options given, by TrainConfig field
    trial_time: float = None  # seconds of training per trial, or
    trial_steps: int = None  # steps per trial, or
    trial_chars: int = None  # training characters per trial
    reports: int = 8  # validation runs (pruning decisions) per trial
    pruner: str = "median"
    seed: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: str = field(
        default_factory=lambda: datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    )

    def check(self):
        if self.trials < 1:
            raise CharrnnError(f"--trials must be at least 1, not {self.trials}")
        budgets = [
            b for b in (self.trial_time, self.trial_steps, self.trial_chars) if b is not None
        ]
        if len(budgets) != 1:
            raise Conflict(
                "give a trial's budget: one of --trial-time, --trial-steps and "
                "--trial-chars, not more"
            )
        if self.trial_time is not None and not self.trial_time > 0:
            raise CharrnnError(f"--trial-time must be positive, not {self.trial_time:g} s")
        if self.trial_steps is not None and self.trial_steps < 1:
            raise CharrnnError(f"--trial-steps must be at least 1, not {self.trial_steps}")
        if self.trial_chars is not None and self.trial_chars < 1:
            raise CharrnnError(f"--trial-chars must be at least 1, not {self.trial_chars}")
        if self.reports < 1:
            raise CharrnnError(f"--reports must be at least 1, not {self.reports}")
        if self.trial_steps is not None and self.reports > self.trial_steps:
            raise CharrnnError(
                f"--reports {self.reports} is more than the {self.trial_steps} steps of a trial"
            )
        if not 0 <= self.seed <= MAX_SEED:  # what Optuna's and numpy's generators take
            raise CharrnnError(f"--seed must be between 0 and {MAX_SEED}, not {self.seed}")
        if self.pruner not in PRUNERS:
            raise CharrnnError(f"--pruner must be one of {', '.join(PRUNERS)}")
        if not self.params:
            raise CharrnnError(
                "nothing to search: give at least one --param, e.g. "
                "--param hidden=128,256,512 --param lr=1e-3:1e-2:log"
            )
        searched = {p["name"] for p in self.params}
        both = sorted(searched & set(self.fixed))
        if both:
            raise Conflict(
                f"{space.option(both[0])} is both fixed and searched (--param); give one"
            )
        TrainConfig(**{**self.fixed, "threads": self.fixed.get("threads", 1)}).check()

    @property
    def axis(self):
        """What trials are compared against: training seconds or characters seen."""
        return "seconds" if self.trial_time is not None else "chars"

    @property
    def interval(self):
        """The distance between report points, in the axis's unit.  With a step
        budget: the characters of budget/reports steps at the fixed (or
        default) batch size and sequence length."""
        if self.trial_time is not None:
            return self.trial_time / self.reports
        if self.trial_chars is not None:
            return self.trial_chars / self.reports
        return self.trial_steps * self.chars_per_step({}) / self.reports

    def chars_per_step(self, options):
        """B*T of a trial with the searched ``options``."""
        base = TrainConfig()
        return (options.get("batch_size") or self.fixed.get("batch_size", base.batch_size)) * (
            options.get("seq_length") or self.fixed.get("seq_length", base.seq_length)
        )

    def train_args(self, options):
        """``charrnn train`` arguments of a trial with the searched ``options``."""
        if self.trial_time is not None:
            budget = [
                "--max-time",
                f"{self.trial_time}s",
                "--eval-every",
                f"{self.trial_time / self.reports}s",
            ]
        elif self.trial_chars is not None:
            steps = round(self.interval / self.chars_per_step(options))
            budget = ["--max-chars", str(self.trial_chars), "--eval-every", str(max(1, steps))]
        else:
            budget = [
                "--max-steps",
                str(self.trial_steps),
                "--eval-every",
                str(max(1, self.trial_steps // self.reports)),
            ]
        fixed = {"seed": self.seed, **self.fixed}
        # a trial trains for its budget, however many epochs of a small corpus that is
        return (
            space.train_args(fixed)
            + space.train_args(options)
            + budget
            + ["--epochs", str(TRIAL_EPOCHS), "--keep", "0"]
        )


def create(sweep_dir, cfg):
    """Make the sweep directory for a new sweep: refused where one exists."""
    if os.path.exists(os.path.join(sweep_dir, CONFIG)):
        raise CharrnnError(
            f"{sweep_dir} holds a sweep already; continue it with "
            f"charrnn sweep --resume {sweep_dir}, or choose another --out"
        )
    if os.path.isdir(sweep_dir) and os.listdir(sweep_dir):
        raise CharrnnError(f"{sweep_dir}: not empty; choose another --out")
    try:
        os.makedirs(os.path.join(sweep_dir, "trials"), exist_ok=True)
    except OSError as e:
        raise CharrnnError(f"{sweep_dir}: cannot create it ({e.strerror})") from None
    text = json.dumps(dataclasses.asdict(cfg), indent=1).encode()
    files.write_atomically(os.path.join(sweep_dir, CONFIG), lambda f: f.write(text))


def load_config(sweep_dir):
    path = os.path.join(sweep_dir, CONFIG)
    try:
        with open(path) as f:
            saved = json.load(f)
        return SweepConfig(**saved)
    except FileNotFoundError:
        raise CharrnnError(f"{sweep_dir}: no sweep there (no {CONFIG})") from None
    except (OSError, ValueError, TypeError) as e:
        raise CharrnnError(f"{path}: cannot read it ({e})") from None


def lock(sweep_dir):
    held = files.try_lock(sweep_dir, LOCK)
    if held is None:
        raise CharrnnError(
            f"{sweep_dir}: another sweep is running in it "
            f"({files.describe(files.holder(sweep_dir, LOCK))})"
        )
    return held


@dataclass
class Running:
    trial: object  # the optuna Trial
    options: dict
    run_dir: str  # relative to the sweep directory
    started: float
    reported: int = 0  # report points passed
    chars_per_second: float = None  # of the last validation
    pruned_at: float = None


@dataclass
class Sweep:
    """A sweep while it runs: its study, the trials under way, how many are done."""

    directory: str
    cfg: SweepConfig
    executor: object  # local.LocalTrials or cluster.DaskTrials
    study: object  # the optuna Study
    params: list  # the space.Param searched
    interval: float  # cfg.interval: between report points
    log: Callable
    on_event: Callable  # None, or called with the objects of ``sweep --json``
    running: dict = field(default_factory=dict)  # trial number -> Running
    done: int = 0  # trials complete, pruned or failed


def run(sweep_dir, cfg, executor, log, on_event=None):
    """Run ``cfg``'s trials until ``cfg.trials`` are done (complete, pruned or
    failed); returns the rows of report.rows.  ``on_event(dict)`` is called
    for every trial that ends (a ``trial`` object: its row) and once at the
    end (an ``end`` object: the best row and all).  Ctrl-C (or SIGTERM) stops
    the trials and raises Interrupted, the sweep left resumable."""
    study = open_study(sweep_dir, cfg, log)
    requeue(study, log)
    sweep = Sweep(
        sweep_dir,
        cfg,
        executor,
        study,
        [space.from_dict(p) for p in cfg.params],
        cfg.interval,
        log,
        on_event,
        done=done_count(study),
    )
    # Ctrl-C and SIGTERM are noted and acted on between events, never raised in
    # the middle of a write to the study's journal
    with DeferredSignals() as signals:
        try:
            log(
                f"sweep {sweep_dir}: {sweep.done} of {cfg.trials} trials done; trials run "
                f"{executor.describe()}"
            )
            run_trials(sweep, signals)
        except KeyboardInterrupt:
            raise stop_for_signal(sweep, signals) from None
        except BaseException:
            executor.stop_all()  # no trial outlives a sweep that failed
            raise
    return end(sweep, stopped=None)


def run_trials(sweep, signals):
    """Start trials as slots free up and act on their events, until
    ``cfg.trials`` are done; a signal raises KeyboardInterrupt between events."""
    cfg, executor, running = sweep.cfg, sweep.executor, sweep.running
    waiting_for_slots = False
    while True:
        if signals.received:
            raise KeyboardInterrupt
        slots = executor.slots()
        while len(running) < slots and sweep.done + len(running) < cfg.trials:
            start_trial(sweep)
        if not running:
            if sweep.done >= cfg.trials:
                return
            if not waiting_for_slots:
                sweep.log("waiting for workers to join the cluster")
                waiting_for_slots = True
            time.sleep(1)
            continue
        waiting_for_slots = False
        event = executor.next_event(1)
        if event is None:  # look at the slots again
            continue
        kind, number, payload = event
        if kind == "validation":
            on_validation(sweep, number, payload)
        elif kind == "lost" and number in running:
            sweep.log(
                f"trial {number} was lost with its worker {payload['worker']}: it runs again "
                f"from its start (rerun {payload['reruns']} of at most {MAX_RERUNS})"
            )
        elif kind == "attempt" and number in running and payload["again"]:
            # reports go on from the points the lost attempt passed
            sweep.log(f"trial {number} started again on another worker (its worker was lost)")
        elif kind == "done":
            on_done(sweep, number, payload)


def start_trial(sweep):
    trial = sweep.study.ask()
    options = {p.name: p.suggest(trial) for p in sweep.params}
    run_dir = os.path.join("trials", f"{trial.number:04d}")
    trial.set_user_attr("run_dir", run_dir)
    sweep.executor.submit(
        trial.number, os.path.join(sweep.directory, run_dir), sweep.cfg.train_args(options)
    )
    sweep.running[trial.number] = Running(trial, options, run_dir, time.monotonic())
    shown = " ".join(f"{k.replace('_', '-')}={_show(v)}" for k, v in options.items())
    sweep.log(f"trial {trial.number} started: {shown}")


def on_validation(sweep, number, obj):
    """Report a trial's best loss at the points of the budget it passed; prune it
    if it lags."""
    r = sweep.running.get(number)
    if r is None or r.pruned_at is not None:
        return
    cfg, interval = sweep.cfg, sweep.interval
    r.chars_per_second = obj.get("chars_per_second")
    x = obj["elapsed_seconds"] if cfg.axis == "seconds" else obj["chars"]
    value = obj["best_val_loss"]
    if value is None or not math.isfinite(value):
        return
    passed = min(cfg.reports, math.floor(x / interval + 0.5))
    for k in range(r.reported + 1, passed + 1):  # every point passed since the last one
        r.trial.report(value, round(k * interval))
    r.reported = max(r.reported, passed)
    if r.reported and r.trial.should_prune():
        r.pruned_at = x
        sweep.executor.stop(number)
        unit = "s" if cfg.axis == "seconds" else " characters"
        sweep.log(f"trial {number} pruned at {x:,.0f}{unit}: best val {value:.4f} lags the others")


def on_done(sweep, number, result):
    """Record a trial that ended: its files, its outcome in the study, the summary."""
    r = sweep.running.pop(number)
    if "fatal" in result:
        raise result["fatal"]
    outcome = result["outcome"]
    run_dir = os.path.join(sweep.directory, r.run_dir)
    os.makedirs(run_dir, exist_ok=True)
    for name, data in result.get("files", {}).items():  # back from a worker
        files.write_atomically(os.path.join(run_dir, name), lambda f, data=data: f.write(data))
    state = tell(sweep.study, r, outcome, result.get("where"), result.get("lost"))
    sweep.done += 1
    found = save(sweep)
    loss = "-" if outcome.best_val_loss is None else f"{outcome.best_val_loss:.4f}"
    sweep.log(
        f"trial {number} {state} (best val {loss}) · {sweep.done} of {sweep.cfg.trials} "
        f"done, {len(sweep.running)} running · best {best_text(found)}"
    )
    if sweep.on_event:
        sweep.on_event({"event": "trial", **next(x for x in found if x["trial"] == number)})


def tell(study, r, outcome, where, lost=None):
    """Record trial ``r``'s ``outcome`` in the study; returns its state in words.
    ``lost``: the workers of a trial that failed because they were lost (it
    runs again on --resume)."""
    from optuna.trial import TrialState

    trial = r.trial
    end = outcome.end or {}
    for key in ("train_seconds", "steps"):
        if end.get(key) is not None:
            trial.set_user_attr(key, end[key])
    if r.chars_per_second is not None:
        trial.set_user_attr("chars_per_second", r.chars_per_second)
    if outcome.best_val_loss is not None:
        trial.set_user_attr("best_val_loss", outcome.best_val_loss)
    if where:
        trial.set_user_attr("where", where)
    if lost:
        trial.set_user_attr(LOST_WORKERS, lost)
    if outcome.state == "complete":
        study.tell(trial, outcome.best_val_loss)
        return "complete"
    if outcome.state == "stopped" and r.pruned_at is not None:
        study.tell(trial, state=TrialState.PRUNED)
        return "pruned"
    error = outcome.error or "stopped from outside the sweep"
    trial.set_user_attr("error", error)
    study.tell(trial, state=TrialState.FAIL)
    return f"failed: {error}"


def stop_for_signal(sweep, signals):
    """Stop the running trials (cut off: they run again on --resume), give them
    a while to end, record the sweep; returns the Interrupted to raise."""
    signum = signals.first or signal.SIGINT  # no signal noted: a KeyboardInterrupt of its own
    sweep.log(
        f"stopping: {len(sweep.running)} running trials are cut off and will run again on --resume"
    )
    sweep.executor.stop_all()
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while sweep.running and time.monotonic() < deadline and len(signals.received) < 2:  # twice: now
        event = sweep.executor.next_event(1)
        if event is not None and event[0] == "done":
            sweep.running.pop(event[1], None)  # left running in the study: cut off
    end(sweep, stopped="signal")
    return Interrupted(
        signum,
        f"sweep stopped with {sweep.done} of {sweep.cfg.trials} trials "
        f"done; continue with charrnn sweep --resume {sweep.directory}",
    )


def end(sweep, stopped):
    """Write the summary and report the end (an ``end`` object); returns the rows.
    ``stopped``: None, or "signal" (the trials running are then cut off)."""
    found = save(sweep, interrupted=stopped is not None)
    if sweep.on_event:
        sweep.on_event(
            {
                "event": "end",
                "sweep_dir": sweep.directory,
                "stopped": stopped,
                "best": report.best(found),
                "trials": found,
            }
        )
    return found


def save(sweep, *, interrupted=False):
    found = report.rows(sweep.study, sweep.directory, interrupted)
    report.write(
        sweep.directory, dataclasses.asdict(sweep.cfg), found, [p.name for p in sweep.params]
    )
    return found


def best_text(found):
    top = report.best(found)
    return "-" if top is None else f"{top['best_val_loss']:.4f} (trial {top['trial']})"


def _show(value):
    return format(value, ".4g") if isinstance(value, float) else str(value)
