"""One trial of a sweep: a ``charrnn train`` process of its own, wherever it
runs (this machine, or a Dask worker: Numba's threads and a worker's threads
must not share a process).

The process reports on stdout (``train --json``); every validation object is
passed on as it comes, so that the sweep can prune the trial.  A stop request
sends SIGTERM (train saves and ends), then SIGKILL if it does not end.  The
process dies with the thread that started it (lifeline), so a killed sweep or
worker leaves no trial running.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from .. import lifeline

LOG_NAME = "train.log"  # the trial's stderr, in its run directory
STOP_GRACE_SECONDS = 60  # from SIGTERM (train saves last.npz) to SIGKILL
# train's end "stopped" of a trial run to its budget
FINISHED = ("time", "steps", "chars", "epochs")


@dataclass
class Outcome:
    """How a trial's process ended.  ``state``: "complete" (ran its budget and
    validated), "stopped" (ended by a stop request, or a signal from elsewhere)
    or "failed" (``error`` says why)."""

    state: str
    best_val_loss: float = None
    end: dict = None  # train's end object, when it wrote one
    error: str = None
    stop_requested: bool = False


def run(corpus, out, args, on_validation, stop_requested, poll_seconds=0.5):
    """Train ``corpus`` into the run directory ``out`` with the train options
    ``args``; ``on_validation(obj)`` for each validation object; ``stop_requested()``
    is polled.  Returns an Outcome."""
    os.makedirs(out, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "charrnn",
        "train",
        corpus,
        "--out",
        out,
        "--json",
        "--quiet",
        *args,
    ]
    with open(os.path.join(out, LOG_NAME), "ab") as log:
        # a session of its own: Ctrl-C at the sweep's terminal reaches the sweep,
        # which stops its trials itself
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=lifeline.environment(),
            start_new_session=True,
        )
    lines = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    end, requested, signalled_at = None, False, None
    try:
        while True:
            try:
                line = lines.get(timeout=poll_seconds)
            except queue.Empty:
                line = ""
            if line is None:
                break
            obj = _parse(line)
            if obj and obj.get("event") == "validation":
                on_validation(obj)
            elif obj and obj.get("event") == "end":
                end = obj
            if not requested and stop_requested():
                requested, signalled_at = True, time.monotonic()
                _signal(process, signal.SIGTERM)
            if signalled_at and time.monotonic() - signalled_at > STOP_GRACE_SECONDS:
                _signal(process, signal.SIGKILL)
        code = process.wait()
    finally:
        if process.poll() is None:  # this thread is being torn down: take the trial along
            _signal(process, signal.SIGKILL)
            process.wait()
    return _outcome(end, code, requested, out)


def _read_lines(stream, lines):
    for raw in stream:
        lines.put(raw.decode("utf-8", "replace"))
    lines.put(None)


def _parse(line):
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _signal(process, signum):
    try:
        process.send_signal(signum)
    except ProcessLookupError:
        pass


def _outcome(end, code, requested, out):
    if requested and code in (-signal.SIGTERM, -signal.SIGKILL):
        return _stopped_by_request(end, code)
    if end is not None:
        stopped = end.get("stopped")
        if stopped in FINISHED and code == 0:
            best = end.get("best_val_loss")
            if best is None:
                return Outcome(
                    "failed",
                    end=end,
                    error="ended without a validation run",
                    stop_requested=requested,
                )
            return Outcome("complete", best, end, stop_requested=requested)
        if stopped == "signal":
            return Outcome("stopped", end.get("best_val_loss"), end, end.get("error"), requested)
        return Outcome(
            "failed",
            end.get("best_val_loss"),
            end,
            end.get("error") or f"train exited with code {code}",
            requested,
        )
    if requested:
        return Outcome("stopped", error=f"killed (exit code {code})", stop_requested=True)
    return Outcome("failed", error=_last_words(out, code))


def _stopped_by_request(end, code):
    """The outcome of a process that our stop request's signal ended.  The
    signal can come after train has finished its budget and put back the
    default handlers (a trial pruned while it finished): its end object then
    says so, and it is complete; never failed."""
    end = end or {}
    best = end.get("best_val_loss")
    if end.get("stopped") in FINISHED and best is not None:
        return Outcome("complete", best, end, stop_requested=True)
    how = signal.Signals(-code).name
    return Outcome("stopped", best, end or None, f"killed by {how}", stop_requested=True)


def _last_words(out, code):
    """Why a process that wrote no end object failed: its exit and its last stderr line."""
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    try:
        with open(os.path.join(out, LOG_NAME), "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            tail = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        tail = []
    return f"train ended without a result ({how})" + (f": {tail[-1]}" if tail else "")
