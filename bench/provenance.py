"""Where, when and from what code a benchmark ran: recorded in every results
file under bench/results/, so that a figure in the docs names its machine,
date, command and commit (bench/docs.py prints them above each table).

Standard library only: the comparison's workers import this module before
they choose their contender (settings.py says why).
"""

import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # what charrnn's speed follows


def machine():
    """The CPU's model name and how many logical CPUs this process may use."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        model = platform.processor() or model
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return f"{model}, {os.cpu_count()} logical CPUs ({usable} usable)"


def cpu_flags():
    """{flag: present} of CPU_FLAGS, from /proc/cpuinfo; {} where it cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next(line for line in f if line.startswith("flags"))
    except (OSError, StopIteration):
        return {}
    present = set(line.split(":", 1)[1].split())
    return {flag: flag in present for flag in CPU_FLAGS}


def version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit():
    """HEAD of the checkout the benchmark ran from, with "+changes" when its
    tracked files differed from it ("unknown" outside a git checkout)."""

    def git(*args):
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    head = git("rev-parse", "HEAD")
    if not head:
        return "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def stamp():
    """The fields every results file carries: command, date, commit, machine,
    CPU flags, and the versions of Python and the libraries measured."""
    return {
        "command": shlex.join([Path(sys.executable).name] + sys.argv),
        "date": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "commit": git_commit(),
        "machine": machine(),
        "cpu_flags": cpu_flags(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("numpy", "numba", "torch")},
    }


def line(results):
    """One Markdown line saying where a results file's figures come from (its stamp
    under "environment", or at its top level as bench/load.py writes it)."""
    about = results.get("environment", results)
    flags = about.get("cpu_flags") or results.get("cpu_flags") or {}
    have = [flag for flag, present in flags.items() if present]
    lacks = [flag for flag, present in flags.items() if not present]
    cpu = "CPU flags " + (", ".join(have) if have else "none of " + ", ".join(CPU_FLAGS))
    if have and lacks:
        cpu += ", without " + ", ".join(lacks)
    return (
        f"Measured {about['date']} at commit {about['commit'][:7]} on {about['machine']}; "
        f"{cpu}; `{about['command']}`."
    )
