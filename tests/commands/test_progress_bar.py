"""The progress bar of ``charrnn train`` follows the budget that ends the run;
compiling the kernels is not charged to a time budget."""

import json
import os
import re
import subprocess
import sys

from command_helpers import SMALL


def bar_lines(stderr):
    return [line for line in re.split(r"[\r\n]", stderr) if "|" in line]


def seconds(interval):
    parts = [int(p) for p in interval.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def test_the_progress_bar_follows_the_time_budget(tmp_path, corpus_file):
    command = (
        [sys.executable, "-m", "charrnn", "train", str(corpus_file), "--hidden", "16"]
        + SMALL
        + ["--epochs", "100000", "--eval-every", "50"]
    )
    # first (it compiles the kernels if the cache is cold): the bar counts --max-steps
    result = subprocess.run(
        command + ["--max-steps", "40", "--out", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = bar_lines(result.stderr)
    assert lines and all("/40 " in line for line in lines), result.stderr
    assert "40/40" in lines[-1]

    result = subprocess.run(
        command + ["--max-time", "3s", "--out", str(tmp_path / "t")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in bar_lines(result.stderr) if " left" in line]
    assert len(lines) >= 2, result.stderr
    for line in lines:
        match = re.search(r"\| ([\d:]+) of ([\d:]+), ([\d:]+) left", line)
        assert match, line
        assert match.group(2) == "00:03", line
        assert seconds(match.group(3)) <= 3 and seconds(match.group(1)) <= 3, line

    # a budget that --max-steps ends first: the time left is that of the steps
    result = subprocess.run(
        command + ["--max-time", "1h", "--max-steps", "40", "--out", str(tmp_path / "both")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in bar_lines(result.stderr) if " left" in line]
    assert lines and lines[-1].startswith("100%"), result.stderr
    for line in lines:
        match = re.search(r"\| ([\d:]+) of ([\d:]+), ([\d:]+) left", line)
        assert match and match.group(2) == "1:00:00", line
        assert seconds(match.group(3)) <= 60, line


def test_compilation_is_not_charged_to_the_time_budget(tmp_path, corpus_file):
    """A first run compiles every kernel (a minute on a cold cache): before the
    clock starts, so a short --max-time still trains and its time is training."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMBA_CACHE_DIR", "CHARRNN_NUMBA_CACHE_BASE")
    }
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # an empty cache: everything compiles
    command = (
        [sys.executable, "-m", "charrnn", "train", str(corpus_file), "--hidden", "16"]
        + SMALL
        + [
            "--epochs",
            "100000",
            "--eval-every",
            "50",
            "--max-time",
            "3s",
            "--json",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    end = json.loads(result.stdout.splitlines()[-1])
    assert end["stopped"] == "time"
    for line in [line for line in bar_lines(result.stderr) if " left" in line]:
        used = re.search(r"\| ([\d:]+) of ", line).group(1)
        assert seconds(used) <= 4, line
    assert end["train_seconds"] < 5 and end["steps"] > 10, end
