"""The Optuna study of a sweep, in its directory's journal file (one JSON
entry a line, appended as the study changes): opened with its journal
checked first, the trials to run again queued, the trials done counted.

A journal line that is not an entry (a disk error, an edit) is refused with
its number: every entry after it depends on those before, so the study
cannot be read past it.  A last line with no newline is a write cut off by a
killed sweep: Optuna would skip it when reading but extend it when it next
writes, damaging the journal, so it is set aside first (UNFINISHED).
"""

import json
import os
import warnings

from .. import files
from ..errors import CharrnnError
from . import report

JOURNAL = "study.journal"
UNFINISHED = "study.journal.unfinished"  # unfinished last lines set aside, for a look
LOST_WORKERS = "lost_workers"  # of a trial that failed because its workers were lost


def open_study(sweep_dir, cfg, log):
    """The study of the sweep in ``sweep_dir`` (made when new), its journal checked."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = os.path.join(sweep_dir, JOURNAL)
    check_journal(path, log)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = JournalStorage(JournalFileBackend(path))
    # Few random trials before TPE models the results: sweeps here are small.
    sampler = optuna.samplers.TPESampler(
        seed=cfg.seed, multivariate=True, n_startup_trials=max(3, min(10, cfg.trials // 3))
    )
    first = round(2 * cfg.interval)  # no trial is pruned on its first report
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(
            n_startup_trials=max(2, min(5, cfg.trials // 4)), n_warmup_steps=first
        ),
        "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=max(first, 1), reduction_factor=3
        ),
        "none": optuna.pruners.NopPruner,
    }[cfg.pruner]()
    try:
        return optuna.create_study(
            study_name="charrnn",
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction="minimize",
            load_if_exists=True,
        )
    except (KeyError, IndexError, TypeError, ValueError) as e:  # entries that do not fit
        raise CharrnnError(
            f"{path}: not a journal of a sweep's study ({type(e).__name__}: {e})"
        ) from None


def check_journal(path, log):
    """Refuse a journal with a damaged line; set aside an unfinished last line."""
    try:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        return  # a new sweep's
    except OSError as e:
        raise CharrnnError(f"{path}: cannot read it ({e.strerror})") from None
    unfinished = lines.pop()  # what follows the last newline
    for number, line in enumerate(lines, 1):
        if not is_entry(line):
            raise CharrnnError(
                f"{path}: line {number} is damaged (not a journal entry), and the study "
                f"cannot be read past it; restore the file, or cut it before line {number} "
                "(the trials from there on are lost)"
            )
    if unfinished:
        aside = os.path.join(os.path.dirname(path), UNFINISHED)
        with open(aside, "ab") as f:
            f.write(unfinished + b"\n")
        files.write_atomically(path, lambda f: f.write(b"".join(x + b"\n" for x in lines)))
        log(
            f"{path}: its last line (line {len(lines) + 1}) is an unfinished write of a "
            f"killed sweep: set aside in {aside}"
        )


def is_entry(line):
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and isinstance(entry.get("op_code"), int)


def requeue(study, log):
    """Trials to run again, each queued with its options: those a stopped or
    killed sweep left running (failed with no error of their own: "cut off"),
    and those that failed because their workers were lost (LOST_WORKERS) and
    have not run again yet.  Neither counts as done (done_count)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    rerun = {t.user_attrs.get("rerun_of") for t in trials}
    for frozen in trials:
        if frozen.state == TrialState.RUNNING:
            study.tell(frozen.number, state=TrialState.FAIL)
            why = "was cut off when the sweep stopped"
        elif lost_with_workers(frozen) and frozen.number not in rerun:
            why = "failed because its workers were lost"
        else:
            continue
        study.enqueue_trial(
            frozen.params, user_attrs={"rerun_of": frozen.number}, skip_if_exists=False
        )
        log(f"trial {frozen.number} {why}: queued to run again")


def lost_with_workers(frozen):
    """Whether a trial failed because its workers were lost, not for its options."""
    return frozen.state.name == "FAIL" and LOST_WORKERS in frozen.user_attrs


def done_count(study):
    """Trials complete, pruned or failed, but for failed ones queued to run again."""
    trials = study.get_trials(deepcopy=False)
    rerun = {t.user_attrs.get("rerun_of") for t in trials}
    return sum(
        report.state_of(t) in ("complete", "pruned", "failed") and t.number not in rerun
        for t in trials
    )
