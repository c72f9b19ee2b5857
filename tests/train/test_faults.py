"""Fault injection on a real training process: SIGKILL at random moments,
SIGINT, SIGTERM, and the terminal it runs in closed (SIGHUP).

Whatever happens, last.npz and best.npz load, resuming from them works, and no
temporary files are left for the user.
"""

import fcntl
import json
import os
import pty
import random
import select
import signal
import subprocess
import sys
import termios
import time

import pytest

from charrnn.checkpoint import load
from charrnn.files import TMP_PREFIX

KILLS = int(os.environ.get("CHARRNN_KILLS", "8"))  # raise for a longer fault campaign
ARGS = [
    "--hidden",
    "24",
    "--batch-size",
    "4",
    "--seq-length",
    "16",
    "--eval-every",
    "3",
    "--quiet",
    "--epochs",
    "100000",
]


def start(corpus, out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "charrnn", "train", str(corpus), "--out", str(out)]
        + ARGS
        + list(extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stamp(path):
    """The file's modification time (ns), or None if it does not exist."""
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def wait_for(path, process, timeout=120, old=None):
    """Until ``path`` exists and was written since ``old`` (its earlier stamp):
    the process is then past start-up and training."""
    deadline = time.time() + timeout
    while stamp(path) in (None, old):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


def check_loadable(out):
    last, best = load(str(out / "last.npz")), load(str(out / "best.npz"))
    assert last.step >= best.step > 0
    return last


def test_sigkill_at_random_moments_never_loses_a_checkpoint(tmp_path, corpus_file):
    rng = random.Random(0)
    out = tmp_path / "run"
    steps_seen = []
    for attempt in range(KILLS):
        before = stamp(out / "last.npz")
        process = start(corpus_file, out, *(["--resume"] if attempt else []))
        # Kill only once this run has written a checkpoint of its own: a kill
        # during start-up would test nothing new.
        wait_for(out / "last.npz", process, old=before)
        time.sleep(rng.uniform(0.0, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        steps_seen.append(check_loadable(out).step)
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] > steps_seen[0]  # progress kept
    # the next run clears anything a kill left behind, and finishes cleanly
    process = start(corpus_file, out, "--resume", "--max-steps", str(steps_seen[-1] + 6))
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert check_loadable(out).step == steps_seen[-1] + 6
    assert not [name for name in os.listdir(out) if name.startswith(TMP_PREFIX)]


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_save_and_exit(tmp_path, corpus_file, sig, code):
    process = start(corpus_file, tmp_path, "--json")
    wait_for(tmp_path / "last.npz", process)
    time.sleep(0.3)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code
    assert "saved" in stderr and "--resume" in stderr and "Traceback" not in stderr
    events = [json.loads(line) for line in stdout.splitlines()]
    assert events[0]["event"] == "validation" and events[-1]["event"] == "end"
    assert events[-1]["stopped"] == "signal" and signal.Signals(sig).name in events[-1]["error"]
    last = check_loadable(tmp_path)
    assert f"stopped at step {last.step};" in stderr


def test_closing_its_terminal_saves_and_exits(tmp_path, corpus_file):
    """A run in a terminal (or an SSH session) that is closed: SIGHUP, and
    from then on writing to the terminal fails (EIO).  It saves, exits with
    128 + 1 and releases its lock."""
    terminal, its_end = pty.openpty()

    def in_the_terminal():  # a session of its own, with the pty as its terminal
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    command = [sys.executable, "-m", "charrnn", "train", str(corpus_file), "--out", str(tmp_path)]
    process = subprocess.Popen(
        command + [a for a in ARGS if a != "--quiet"],  # with its progress bar on the terminal
        stdin=its_end,
        stdout=its_end,
        stderr=its_end,
        preexec_fn=in_the_terminal,
    )
    os.close(its_end)
    try:
        deadline = time.time() + 120
        while stamp(tmp_path / "last.npz") is None:  # training, its output read as a terminal would
            assert process.poll() is None and time.time() < deadline
            if select.select([terminal], [], [], 0.05)[0]:
                os.read(terminal, 65536)
    finally:
        os.close(terminal)  # the terminal closes: the kernel hangs it up
    assert process.wait(timeout=120) == 128 + signal.SIGHUP
    last = check_loadable(tmp_path)
    assert last.step > 0 and not (tmp_path / ".lock").exists()
