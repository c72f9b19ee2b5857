"""Run directories: which one a training run writes into, which step files it
keeps, and what ``charrnn runs`` and ``charrnn info`` report about them.

A run directory holds one run's checkpoints: ``best.npz``, ``last.npz`` and
``step<N>_val<LOSS>.npz`` files, and while a process trains into it, that
process's ``.lock`` (files.RunLock).  No run replaces another's files: a fresh
run goes into a directory that holds no checkpoints, and a second process is
kept out of a directory by the lock.
"""
import datetime
import math
import os
import re

from . import checkpoint, files
from .errors import CharrnnError
from .model import param_count

STEP_FILE = re.compile(r"^step(\d+)_val[^/]*\.npz$")
RUN_FILES = ("best.npz", "last.npz")


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
    for name in names[:max(0, len(names) - keep)]:
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
            return (f"{s['layers']}x{s['hidden']} {s['cell'].upper()} on {s['corpus']}, step "
                    f"{s['steps']}{best}")
    return "step files only"


def claim(out, *, explicit, force, resume, log):
    """(run directory, its RunLock) for a training run.

    A fresh run (no ``resume``) never replaces another run's checkpoints: with
    the default ``out`` (not ``explicit``) it takes the first of ``out``,
    ``out-2``, ``out-3``, ... that holds no run and no live process; with an
    explicit ``out`` it is refused unless ``force``, which removes the old
    run's files.  A resumed run continues in ``out``.
    """
    candidates = [out] if explicit or force or resume else \
        (out if n == 1 else f"{out}-{n}" for n in range(1, 10_000))
    for directory in candidates:
        make_dir(directory)
        try:
            lock = files.try_lock(directory)
        except OSError as e:
            raise CharrnnError(f"{directory}: cannot write checkpoints there "
                               f"({e.strerror})") from None
        if lock is None:
            if explicit or force or resume:
                raise CharrnnError(f"{directory}: another process is training into it "
                                   f"({files.describe(files.holder(directory))}); wait for it, "
                                   "stop it, or choose another --out")
            continue
        try:
            if lock.took_over:
                log(f"{directory}: took over the lock left by a process that is no longer "
                    f"running ({files.describe(lock.took_over)})")
            resumed_here = resume and os.path.exists(resume) and os.path.samefile(os.path.dirname(os.path.abspath(resume)),
                                                       directory)
            existing = checkpoint_files(directory)
            if existing and not resumed_here:
                if force:
                    log(f"--force: replacing the run in {directory} ({describe_run(directory)}): "
                        f"removing {', '.join(existing)}")
                    for name in existing:
                        os.unlink(os.path.join(directory, name))
                elif explicit or resume:
                    raise CharrnnError(
                        f"{directory} holds another run ({describe_run(directory)}); continue it "
                        f"with --resume, replace it with --force (deletes its "
                        f"{len(existing)} checkpoint files), or choose another --out")
                else:
                    lock.release()
                    continue
            if directory != out:
                log(f"{out} holds another run; this one goes to {directory}")
            return directory, lock
        except BaseException:
            lock.release()
            raise
    raise CharrnnError(f"no free run directory {out}-N")


def make_dir(directory):
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise CharrnnError(f"{directory}: cannot write checkpoints there, cannot create it "
                           f"({e.strerror})") from None


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


def find_run_dirs(root):
    """Every directory under ``root`` (itself included) that holds checkpoints or a lock."""
    found = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames.sort()
        if files.LOCK_NAME in names or any(n in RUN_FILES or STEP_FILE.match(n) for n in names):
            found.append(dirpath)
    return found


def summary(ckpt):
    """The facts ``runs`` and ``info`` report about a checkpoint (loaded with or
    without weights), as a JSON-ready dict."""
    tc, m = ckpt.train_config, ckpt.model
    val = ckpt.val_history
    steps_per_epoch = tc.get("steps_per_epoch")
    epochs = ckpt.epoch + (ckpt.batch_index / steps_per_epoch if steps_per_epoch else 0.0)
    corpus = tc.get("corpus")
    return {
        "cell": m.cell, "layers": m.layers, "hidden": m.hidden, "vocab_size": m.vocab_size,
        "parameters": param_count(m), "steps": ckpt.step, "epochs": round(epochs, 4),
        "best_val_loss": finite(ckpt.best_val),
        "last_val_loss": finite(val[-1, 1]) if len(val) else None,
        "train_seconds": finite(ckpt.seconds) if ckpt.seconds else None,
        "corpus": os.path.basename(corpus) if corpus else None,
        "corpus_sha256": tc.get("corpus_file_sha256"),
    }


def finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


RUN_FIELDS = ("run", "status", "cell", "layers", "hidden", "parameters", "steps", "epochs",
              "best_val_loss", "last_val_loss", "train_seconds", "corpus", "corpus_sha256",
              "written", "checkpoint", "best_checkpoint", "holder", "error")


def list_runs(root):
    """One dict per run directory under ``root`` (RUN_FIELDS); a run being trained
    or whose files do not load is reported as such, never an exception."""
    rows = []
    for directory in find_run_dirs(root):
        row = dict.fromkeys(RUN_FIELDS)
        row["run"] = os.path.relpath(directory, root) if directory != root else "."
        live = files.holder(directory)
        row["status"] = "ok" if live is None else "training"
        row["holder"] = None if live is None else files.describe(live)
        path = next((os.path.join(directory, n) for n in ("last.npz", "best.npz")
                     if os.path.isfile(os.path.join(directory, n))), None)
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
                if row["best_checkpoint"] and row["best_checkpoint"] != path:
                    checkpoint.load(row["best_checkpoint"], weights=False)  # both must load
                row.update(summary(ckpt))
                row["written"] = datetime.datetime.fromtimestamp(
                    os.path.getmtime(path)).astimezone().isoformat(timespec="seconds")
            except (CharrnnError, OSError) as e:
                row["status"], row["error"] = "damaged", str(e)
        row.pop("vocab_size", None)
        rows.append(row)
    return rows
