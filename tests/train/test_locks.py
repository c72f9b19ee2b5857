"""The run lock and readers, on real training processes: one process per run
directory (a second one is refused, naming the first; a killed one's lock is taken
over), two runs started at once never share a directory, and sample, eval, runs and
info read a run while it is being written without ever seeing a torn file."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from charrnn.checkpoint import load
from charrnn.cli import main
from charrnn.files import LOCK_NAME, TMP_PREFIX

SMALL = ["--layers", "1", "--batch-size", "4", "--seq-length", "16"]
ARGS = ["--hidden", "16"] + SMALL + ["--quiet"]
FOREVER = ["--epochs", "100000", "--eval-every", "3"]  # trains until stopped


def charrnn(*args):
    return [sys.executable, "-m", "charrnn"] + [str(a) for a in args]


def start(corpus, out, *extra):
    return subprocess.Popen(
        charrnn("train", corpus, "--out", out, *ARGS, *FOREVER, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path, process, timeout=300):
    """Until ``path`` exists: the process is past start-up (and compiling) and training."""
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


def stop(process):
    if process.poll() is None:
        process.kill()
    process.communicate()


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


def test_a_second_process_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path, corpus_file):
    out = tmp_path / "run"
    first = start(corpus_file, out)
    try:
        wait_for(out / "last.npz", first)
        for extra in (["--resume"], ["--force"]):
            second = subprocess.run(
                charrnn("train", corpus_file, "--out", out, *ARGS, "--max-steps", "100000", *extra),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert second.returncode == 1, (extra, second.stderr)
            assert f"pid {first.pid}" in second.stderr, (extra, second.stderr)
            assert "Traceback" not in second.stderr
            assert first.poll() is None  # still training, its files still there
            load(str(out / "last.npz"))
            load(str(out / "best.npz"))
    finally:
        first.kill()
        first.communicate()
    assert (out / LOCK_NAME).exists()  # a killed process leaves its lock file behind
    step = load(str(out / "last.npz")).step

    # not --quiet: the take-over is reported
    resumed = subprocess.run(
        charrnn(
            "train", corpus_file, "--out", out, *ARGS[:-1], "--resume", "--max-steps", step + 6
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "took over the lock" in resumed.stderr and f"pid {first.pid}" in resumed.stderr
    assert load(str(out / "last.npz")).step == step + 6
    assert not (out / LOCK_NAME).exists()  # released on a normal exit
    assert not [n for n in os.listdir(out) if n.startswith(TMP_PREFIX)]


# Started by the test, then waits on stdin: both processes are past their
# imports when they are released together, so their claims race.
LAUNCHER = """
import sys
import charrnn.cli, charrnn.runs, charrnn.train
print("ready", flush=True)
sys.stdin.readline()
sys.argv = ["charrnn"] + sys.argv[1:]
charrnn.cli.main()
"""


def race(cwd, corpus, hiddens):
    """Start one fresh ``charrnn train`` per hidden size in ``cwd``, released at once."""
    processes = {
        hidden: subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, "train", str(corpus), "--hidden", str(hidden)]
            + SMALL
            + ["--quiet", "--max-steps", "12", "--eval-every", "3"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for hidden in hiddens
    }
    try:
        for p in processes.values():
            assert p.stdout.readline() == "ready\n", p.communicate()
        for p in processes.values():
            p.stdin.write("go\n")
            p.stdin.flush()
        for hidden, p in processes.items():
            _, stderr = p.communicate(timeout=300)
            assert p.returncode == 0, (hidden, stderr)
    finally:
        for p in processes.values():
            stop(p)


def run_hidden(directory):
    """The one hidden size of every checkpoint in ``directory`` (a finished 12-step run)."""
    names = sorted(os.listdir(directory))
    assert names[:2] == ["best.npz", "last.npz"] and len(names) == 6, names
    ckpts = [load(str(directory / n)) for n in names]
    seen = {c.model.hidden for c in ckpts}
    assert len(seen) == 1, (directory, names, seen)  # no mix of two runs
    assert {c.train_config["hidden"] for c in ckpts} == seen
    assert ckpts[1].step == 12 and sorted(c.step for c in ckpts[2:]) == [3, 6, 9, 12]
    return seen.pop()


def test_runs_started_at_the_same_moment_get_their_own_directories(tmp_path, corpus_file):
    for attempt in range(2):
        cwd = tmp_path / str(attempt)
        cwd.mkdir()
        race(cwd, corpus_file, (16, 24))
        root = cwd / "checkpoints"
        assert sorted(os.listdir(root)) == ["play", "play-2"]
        assert {run_hidden(root / "play"), run_hidden(root / "play-2")} == {16, 24}

    # with a finished run in checkpoints/play, both pass it by, and it is left as it was
    cwd = tmp_path / "2"
    shutil.copytree(tmp_path / "0" / "checkpoints" / "play", cwd / "checkpoints" / "play")
    before = {
        n: (cwd / "checkpoints" / "play" / n).read_bytes()
        for n in os.listdir(cwd / "checkpoints" / "play")
    }
    race(cwd, corpus_file, (32, 40))
    root = cwd / "checkpoints"
    assert sorted(os.listdir(root)) == ["play", "play-2", "play-3"]
    assert {n: (root / "play" / n).read_bytes() for n in os.listdir(root / "play")} == before
    assert {run_hidden(root / "play-2"), run_hidden(root / "play-3")} == {32, 40}


def test_readers_never_see_a_torn_file(tmp_path, corpus_file):
    root = tmp_path / "runs"
    held_out = tmp_path / "held_out.txt"  # short: eval reads it on every round
    held_out.write_text(corpus_file.read_text(encoding="utf-8")[:400], encoding="utf-8")
    out = root / "live"
    process = start(corpus_file, out, "--eval-every", "1")
    try:
        wait_for(out / "best.npz", process)
        first_step = load(str(out / "last.npz")).step
        # a fixed number of rounds, not a time window: on a busy machine a
        # round is slow, and what matters is that files were rewritten during them
        for _ in range(12):
            for target in ("best.npz", "last.npz"):
                cli("sample", out / target, "--length", "20", "--seed", "1")
                facts = json.loads(cli("info", out / target, "--json").stdout)
                assert facts["model"]["hidden"] == 16
            cli("sample", out, "--length", "20")
            report = json.loads(cli("eval", out / "last.npz", held_out, "--json").stdout)
            assert report["loss"] > 0
            rows = json.loads(cli("runs", root, "--json").stdout)
            assert [(r["run"], r["status"]) for r in rows] == [("live", "training")], rows
            assert rows[0]["error"] is None and rows[0]["steps"] >= first_step
        assert process.poll() is None  # the run was being written all along
        assert load(str(out / "last.npz")).step > first_step
    finally:
        stop(process)


def test_runs_shows_the_pid_of_the_live_run(tmp_path, corpus_file):
    root = tmp_path / "runs"
    process = start(corpus_file, root / "live")
    try:
        wait_for(root / "live" / "last.npz", process)
        table = cli("runs", root).stdout.splitlines()
        assert table[1].split()[:4] == ["live", "training", "(pid", f"{process.pid})"], table
        (row,) = json.loads(cli("runs", root, "--json").stdout)
        assert row["status"] == "training" and row["holder"].startswith(f"pid {process.pid},")
    finally:
        process.send_signal(signal.SIGKILL)
        stop(process)
    # the lock file of the killed process is left, but no live process holds it
    assert (root / "live" / LOCK_NAME).exists()
    (row,) = json.loads(cli("runs", root, "--json").stdout)
    assert row["status"] == "ok" and row["holder"] is None


def test_a_stopped_run_releases_its_lock(tmp_path, corpus_file):
    out = tmp_path / "run"
    process = start(corpus_file, out)
    try:
        wait_for(out / "last.npz", process)
        assert (out / LOCK_NAME).exists()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 143, stderr
    finally:
        stop(process)
    assert not (out / LOCK_NAME).exists()
    (row,) = json.loads(cli("runs", tmp_path, "--json").stdout)
    assert row["status"] == "ok" and row["holder"] is None
