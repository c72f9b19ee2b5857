"""Run directories: which one a training run writes into, which step files it
keeps, and what ``charrnn runs`` and ``charrnn info`` report about them.

A run directory holds one run's checkpoints: ``best.npz``, ``last.npz`` and
``step<N>_val<LOSS>.npz`` files, and while a process trains into it, that
process's ``.lock`` (files.RunLock).  No run replaces another's files: a fresh
run goes into a directory that holds no checkpoints, and a second process is
kept out of a directory by the lock.
"""

import datetime
import fcntl
import os
import re
import shutil
import time
from dataclasses import dataclass, field

from . import checkpoint, files
from .epochs import epochs_of
from .errors import CharrnnError
from .model import param_count
from .run_options import differing, in_json, training_options
from .tables import ASCENDING, SORT_KEYS

STEP_FILE = re.compile(r"^step(\d+)_val[^/]*\.npz$")
RUN_FILES = ("best.npz", "last.npz")
ROOT = "checkpoints"  # where runs go when no directory is named
# What runs and info say of a checkpoint whose weights are not finite.
NOT_FINITE = "weights: not finite (NaN or infinite): sample, eval, export, viz and resume refuse it"
# A lock found held is tried again this often, LOCK_WAIT seconds apart: runs
# takes a lock for a moment to see whether anyone holds it (lock_holder).
LOCK_TRIES, LOCK_WAIT = 3, 0.05


def checkpoint_files(directory):
    """The run's checkpoint files in ``directory``, by name."""
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n for n in names if n in RUN_FILES or STEP_FILE.match(n))


def step_files(directory):
    """The step files in ``directory``, oldest step first."""
    names = [n for n in checkpoint_files(directory) if STEP_FILE.match(n)]
    return sorted(names, key=lambda n: (int(STEP_FILE.match(n).group(1)), n))


def prune_step_files(directory, keep):
    """Delete all but the ``keep`` newest step files (None: keep all)."""
    if keep is None:
        return
    names = step_files(directory)
    for name in names[: max(0, len(names) - keep)]:
        try:
            os.unlink(os.path.join(directory, name))
        except FileNotFoundError:
            pass


def describe_run(directory):
    """A few words about the run in ``directory`` for messages."""
    for name in RUN_FILES:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            try:
                s = summary(checkpoint.load(path, weights=False))
            except CharrnnError:
                return "its checkpoints do not load"
            best = "" if s["best_val_loss"] is None else f", best val {s['best_val_loss']:.4f}"
            return (
                f"{s['layers']}x{s['hidden']} {s['cell'].upper()} on {s['corpus']}, step "
                f"{s['steps']}{best}"
            )
    return "step files only"


@dataclass
class RunDir:
    """A run directory claimed for training: its lock, and what must change in
    it before the first step, done only once every check has passed (a
    refused run changes nothing)."""

    path: str
    lock: files.RunLock
    replaces: list = field(default_factory=list)  # checkpoint files to delete first
    reason: str = ""  # why, for the message
    best_from: str = None  # a resumed run's best.npz, copied in when it moves directory

    def prepare(self, log):
        if self.replaces:
            log(f"--force: {self.reason}: deleting {', '.join(self.replaces)}")
        for name in self.replaces:
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
        if self.best_from:
            with open(self.best_from, "rb") as source:
                files.write_atomically(
                    os.path.join(self.path, "best.npz"), lambda f: shutil.copyfileobj(source, f)
                )

    @property
    def drops_best(self):
        return "best.npz" in self.replaces


def claim(out, *, explicit, force, resume, log):
    """The RunDir of a training run, its lock held.

    A fresh run (no ``resume``) never replaces another run's checkpoints: with
    the default ``out`` (not ``explicit``) it takes the first of ``out``,
    ``out-2``, ``out-3``, ... that holds no run and no live process; with an
    explicit ``out`` it is refused unless ``force`` (then the old run's files
    are deleted when training starts).  A resumed run continues in its own
    directory, where checkpoints later than the one it resumes from would mix
    two branches of the run (refused unless ``force``), or in an ``out`` that
    holds no other run, which gets the run's best.npz.
    """
    fixed = explicit or force or resume  # one directory, or the first free of a series
    candidates = [out] if fixed else (out if n == 1 else f"{out}-{n}" for n in range(1, 10_000))
    for directory in candidates:
        make_dir(directory)
        try:
            lock = try_lock(directory)
        except OSError as e:
            raise CharrnnError(
                f"{directory}: cannot write checkpoints there ({e.strerror})"
            ) from None
        if lock is None:
            if fixed:
                raise CharrnnError(
                    f"{directory}: another process is training into it "
                    f"({files.describe(files.holder(directory))}); wait for it, "
                    "stop it, or choose another --out"
                )
            continue
        try:
            run_dir = _plan(directory, lock, fixed, force, resume)
            if run_dir is None:
                lock.release()
                continue
            if lock.previous_holder:
                log(
                    f"{directory}: took over the lock left by a process that is no longer "
                    f"running ({files.describe(lock.previous_holder)})"
                )
            if directory != out:
                log(f"{out} holds another run; this one goes to {directory}")
            return run_dir
        except BaseException:
            lock.release()
            raise
    raise CharrnnError(f"no free run directory {out}-N")


def try_lock(directory):
    """files.try_lock, tried LOCK_TRIES times when the lock is held: a
    ``charrnn runs`` may hold it for a moment (lock_holder)."""
    for attempt in range(LOCK_TRIES):
        lock = files.try_lock(directory)
        if lock is not None or attempt == LOCK_TRIES - 1:
            return lock
        time.sleep(LOCK_WAIT)


def lock_holder(directory):
    """Who holds the lock of ``directory`` (files.holder's dict; {} when its
    file does not say), or None when no process does.  Found as train finds
    it, by trying the lock: the pid in a lock that a killed process left may
    belong to another process by now.  The lock is shared and let go at once;
    a train starting at that moment tries again (try_lock)."""
    try:
        fd = os.open(os.path.join(directory, files.LOCK_NAME), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return files.holder(directory) or {}
    except OSError:  # a file system without locks: what the lock file says
        return files.holder(directory)
    finally:
        os.close(fd)
    return None


def _plan(directory, lock, fixed, force, resume):
    """The RunDir for ``directory``, None to try the next, or a CharrnnError."""
    existing = checkpoint_files(directory)
    source = os.path.dirname(os.path.abspath(resume)) if resume else None
    if resume and os.path.exists(resume) and os.path.samefile(source, directory):
        step = checkpoint.load(resume, weights=False).step
        later = [n for n in existing if _step_of(os.path.join(directory, n)) > step]
        if later and not force:
            raise CharrnnError(
                f"{directory} holds checkpoints of this run later than {resume} (step {step}): "
                f"{', '.join(later)}; resuming from it would mix two branches of the run. "
                "--force deletes the later ones; or resume into another --out"
            )
        return RunDir(directory, lock, later, f"resuming {resume} at step {step}")
    best = os.path.join(source, "best.npz") if resume else None
    best_from = best if best and os.path.isfile(best) else None
    if not existing:
        return RunDir(directory, lock, best_from=best_from)
    if force:
        return RunDir(
            directory,
            lock,
            existing,
            f"replacing the run in {directory} ({describe_run(directory)})",
            best_from,
        )
    if not fixed:
        return None
    raise CharrnnError(
        f"{directory} holds another run ({describe_run(directory)}); continue it with "
        f"--resume, replace it with --force (deletes its {len(existing)} checkpoint files "
        "when training starts), or choose another --out"
    )


def _step_of(path):
    """The step a checkpoint file is at (-1 when it does not load)."""
    match = STEP_FILE.match(os.path.basename(path))
    if match:
        return int(match.group(1))
    try:
        return checkpoint.load(path, weights=False).step
    except CharrnnError:
        return -1


def make_dir(directory):
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise CharrnnError(
            f"{directory}: cannot write checkpoints there, cannot create it ({e.strerror})"
        ) from None


def newest_run(root, stem):
    """last.npz of the most recently written run of the corpus ``stem`` under ``root``
    (the directories ``stem`` and ``stem-N`` that fresh runs get), or None."""
    pattern = re.compile(rf"^{re.escape(stem)}(-\d+)?$")
    found = []
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return None
    for name in names:
        last = os.path.join(root, name, "last.npz")
        if pattern.match(name) and os.path.isfile(last):
            found.append((os.path.getmtime(last), last))
    return max(found)[1] if found else None


def checkpoint_to_resume(out, stem):
    """What a bare --resume continues: last.npz in ``out`` when it is given, else
    of the newest run of the corpus ``stem`` under ROOT."""
    if out is not None:
        return os.path.join(out, "last.npz")
    found = newest_run(ROOT, stem)
    if found is None:
        raise CharrnnError(
            f"--resume: no run of {stem} under {ROOT}/ to continue; name its checkpoint or --out"
        )
    return found


def checkpoint_in(path=None, name="best.npz"):
    """The checkpoint ``path`` names: a file as it is; a run directory: its
    ``name`` (best.npz to read, last.npz to resume); a sweep's directory: its
    best trial's best.npz; another directory (None: ROOT): best.npz of its
    newest run.  What is not there is a CharrnnError naming the file looked for."""
    if path is not None and not os.path.isdir(path):
        return path
    if path is not None and (name != "best.npz" or holds_a_run(names_in(path))):
        return file_of_run(path, name)
    return sweep_best(path) or latest_best(path or ROOT)


def file_of_run(directory, name):
    """The checkpoint ``name`` of the run in ``directory``, which must be there."""
    found = os.path.join(directory, name)
    if os.path.isfile(found):
        return found
    held = checkpoint_files(directory)
    if held:
        why = f"in this run directory (it holds {', '.join(held)}: name one of them)"
    elif holds_a_run(names_in(directory)):
        why = "in this run directory (its run has written no checkpoint yet)"
    else:
        why = "in it (not a run directory: it holds no checkpoint)"
    raise CharrnnError(f"{directory}: no {name} {why}")


def names_in(directory):
    """The names in ``directory``; none when it cannot be read."""
    try:
        return os.listdir(directory)
    except OSError:
        return []


def sweep_best(directory):
    """best.npz of the best trial when ``directory`` is a sweep's, else None."""
    from .sweep.report import best_checkpoint
    from .sweep.search import CONFIG

    if directory is None or not os.path.isfile(os.path.join(directory, CONFIG)):
        return None
    found = best_checkpoint(directory)
    if found is None:
        raise CharrnnError(f"{directory}: the sweep has no complete trial yet")
    return found


def latest_best(root=ROOT):
    """best.npz of the most recently written run under ``root`` (what ``sample``
    uses when no checkpoint is named)."""
    found = [
        os.path.join(d, "best.npz")
        for d in find_run_dirs(root)
        if os.path.isfile(os.path.join(d, "best.npz"))
    ]
    if not found:
        raise CharrnnError(
            f"no checkpoint named and no best.npz found under {root}/; "
            "train a model first (charrnn train CORPUS) or name a checkpoint"
        )
    return max(found, key=os.path.getmtime)


def find_run_dirs(root):
    """Every directory under ``root`` (itself included) that holds checkpoints or a lock."""
    found = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames.sort()
        if holds_a_run(names):
            found.append(dirpath)
    return found


def holds_a_run(names):
    """Whether a directory of these file ``names`` is a run's: checkpoints, or a lock."""
    return files.LOCK_NAME in names or any(n in RUN_FILES or STEP_FILE.match(n) for n in names)


def summary(ckpt):
    """The facts ``runs`` and ``info`` report about a checkpoint (loaded with or
    without weights), as a JSON-ready dict."""
    tc, m = ckpt.train_config, ckpt.model
    val = ckpt.val_history
    corpus = tc.get("corpus")
    return {
        "cell": m.cell,
        "layers": m.layers,
        "hidden": m.hidden,
        "vocab_size": m.vocab_size,
        "parameters": param_count(m),
        "steps": ckpt.step,
        "epochs": epochs_of(ckpt),
        "best_val_loss": files.json_safe(float(ckpt.best_val)),
        "last_val_loss": files.json_safe(float(val[-1, 1])) if len(val) else None,
        "train_seconds": files.json_safe(float(ckpt.seconds)) if ckpt.seconds else None,
        "corpus": printable(os.path.basename(corpus)) if corpus else None,
        "corpus_sha256": printable(tc.get("corpus_file_sha256")),
    }


def printable(text):
    """``text`` to show on a terminal: as it is, or escaped (repr) when it holds
    characters that are not printable (escape sequences), which a checkpoint
    from elsewhere may carry in its strings.  None stays None."""
    if text is None or str(text).isprintable():
        return text
    return repr(str(text))


RUN_FIELDS = (
    "run",
    "status",
    "cell",
    "layers",
    "hidden",
    "parameters",
    "steps",
    "epochs",
    "best_val_loss",
    "last_val_loss",
    "train_seconds",
    "corpus",
    "corpus_sha256",
    "written",
    "checkpoint",
    "best_checkpoint",
    "holder",
    "error",
    "options",
)


def list_runs(root=ROOT, sort="best"):
    """One dict per run directory under ``root`` (RUN_FIELDS), sorted by the
    column ``sort`` (SORT_KEYS; the runs it does not know last, by name).  A run
    being trained or whose files do not load is reported as such, never an
    exception; ``options``: the training options in which the runs differ
    (run_options.differing).  No ROOT yet: no runs."""
    if not os.path.isdir(root) and (os.path.exists(root) or root != ROOT):
        raise CharrnnError(f"{root}: no such directory")
    if sort not in SORT_KEYS:
        raise CharrnnError(f"--sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
    rows = [run_row(root, directory) for directory in find_run_dirs(root)]
    names = differing([r["options"] for r in rows])
    for r in rows:
        r["options"] = in_json(r["options"], names)
    key = SORT_KEYS[sort]
    known = sorted(
        (r for r in rows if r[key] is not None), key=lambda r: r[key], reverse=sort not in ASCENDING
    )
    return known + sorted((r for r in rows if r[key] is None), key=lambda r: r["run"])


def run_row(root, directory):
    """The RUN_FIELDS of the run in ``directory``, under ``root``."""
    row = dict.fromkeys(RUN_FIELDS)
    row["run"] = os.path.relpath(directory, root) if directory != root else "."
    live = lock_holder(directory)
    row["status"] = "ok" if live is None else "training"
    row["holder"] = None if live is None else files.describe(live)
    path = next(
        (
            os.path.join(directory, n)
            for n in ("last.npz", "best.npz")
            if os.path.isfile(os.path.join(directory, n))
        ),
        None,
    )
    best = os.path.join(directory, "best.npz")
    row["best_checkpoint"] = best if os.path.isfile(best) else None
    if path is None:
        steps = step_files(directory)
        path = os.path.join(directory, steps[-1]) if steps else None
    if path is None:
        row["status"] = "training" if live is not None else "empty"
    else:
        row["checkpoint"] = path
        try:
            ckpt = checkpoint.load(path, weights=False)
            row.update(summary(ckpt))  # shown even when the best checkpoint is damaged
            row["options"] = training_options(ckpt)
            row["written"] = (
                datetime.datetime.fromtimestamp(os.path.getmtime(path))
                .astimezone()
                .isoformat(timespec="seconds")
            )
            loaded = {path: ckpt}
            if row["best_checkpoint"] and row["best_checkpoint"] != path:  # both must load
                loaded[row["best_checkpoint"]] = checkpoint.load(
                    row["best_checkpoint"], weights=False
                )
            unusable = [p for p, c in loaded.items() if not c.finite]
            if unusable:
                row["status"], row["error"] = "damaged", f"{unusable[0]}: {NOT_FINITE}"
        except (CharrnnError, OSError) as e:
            row["status"], row["error"] = "damaged", str(e)
    row.pop("vocab_size", None)
    return row


def expand_runs(paths):
    """Run directories and checkpoints as given; a directory holding no
    checkpoint of its own but runs under it (a sweep's): those, best first."""
    found = []
    for path in paths:
        own = os.path.isdir(path) and any(os.path.isfile(os.path.join(path, n)) for n in RUN_FILES)
        rows = list_runs(path, sort="best") if os.path.isdir(path) and not own else []
        found += [os.path.join(path, r["run"]) for r in rows if r["status"] == "ok"] or [path]
    return found
