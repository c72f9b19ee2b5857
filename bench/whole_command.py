"""The whole training command, as a user runs it: charrnn's `python -m charrnn
train` against bench/torch_train_command.py (the same job in PyTorch), each a
child of the worker, its peak RSS from os.wait4: corpus loading, training,
validation over the whole held-out tenth and checkpoint writing, three
validation runs (command_schedule)."""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from settings import VAL_FRAC

TORCH_COMMAND = Path(__file__).resolve().parent / "torch_train_command.py"


def command_schedule(cfg, steps=0):
    """(max steps, steps between validation runs) of a whole-command run:
    three validation runs (each over the whole validation split, each writing
    checkpoints), so that they and not the first steps set the peak.  Every 5
    steps for the big configurations (a 2x512 run takes ~20 s on an idle
    machine), every 20 for 2x128, whose validation is quick; ``steps``
    (--command-steps) overrides it."""
    if steps:
        return steps, max(1, steps // 3)
    every = 20 if cfg.hidden <= 128 else 5
    return 3 * every, every


def child_peak(command):
    """Run ``command``; (exit code, stdout, stderr, peak RSS in MB, seconds).
    The peak is ru_maxrss of that child alone, from os.wait4 (kB on Linux).
    Output goes to files, not pipes: communicate() would reap the child itself
    and its rusage would be lost.  The child starts from a vfork of this
    process and Linux keeps the high-water RSS of the address space it exec'd
    from, so this process's own peak (stdlib only, ~20 MB: nothing heavy is
    imported on this path) is a floor under the figure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_maxrss / 1024,
            seconds,
        )


def train_command(impl, cfg, cell, threads, corpus, steps, every, out):
    """The command line of a whole training run into the directory ``out``."""
    common = [
        str(corpus),
        "--cell",
        cell,
        "--val-frac",
        str(VAL_FRAC),
        "--hidden",
        str(cfg.hidden),
        "--layers",
        str(cfg.layers),
        "--batch-size",
        str(cfg.batch),
        "--seq-length",
        str(cfg.seq),
        "--max-steps",
        str(steps),
        "--eval-every",
        str(every),
        "--threads",
        str(threads),
        "--out",
        out,
    ]
    if impl == "charrnn":  # --keep at its default; --force: --out is a fresh directory anyway
        return [sys.executable, "-m", "charrnn", "train", *common, "--force", "--json"]
    return [sys.executable, str(TORCH_COMMAND), *common]


def measure(cfg, cell, threads, options, impl):
    """Peak RSS, wall time and validation losses of one whole training command,
    with the worker's environment: thread variables, the checkout on
    PYTHONPATH, the Numba cache that the parent's warm-up filled."""
    steps, every = command_schedule(cfg, options.command_steps)
    tmp = tempfile.mkdtemp(prefix="charrnn-bench-command-")
    try:
        command = train_command(
            impl, cfg, cell, threads, options.corpus, steps, every, os.path.join(tmp, "run")
        )
        code, out, err, peak, seconds = child_peak(command)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if events and events[-1].get("error") and events[-1].get("event") != "end":
        return events[-1]  # PyTorch missing (torch_side.import_torch): the parent reports it
    validations = [e for e in events if e.get("event") == "validation"]
    if code != 0 or not events or events[-1].get("event") != "end" or not validations:
        raise SystemExit(f"{shlex.join(command)} failed, exit {code}:\n{err[-3000:]}")
    return {
        "peak_rss_mb": peak,
        "seconds": seconds,
        "steps": steps,
        "eval_every": every,
        "validations": len(validations),
        "val_loss": validations[-1]["val_loss"],
        "best_val_loss": events[-1]["best_val_loss"],
        "command": shlex.join(command),
    }
