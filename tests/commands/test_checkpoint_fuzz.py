"""Checkpoints from strangers, generated: hypothesis mutates the members of a
real checkpoint (dtype, rank, shape, JSON types, values, missing and extra
members, .npy headers and zip entries that declare terabytes, deflated
members of hundreds of MB of zeros, cut and flipped bytes), and every command
that reads checkpoints (sample, eval, info, info --json, runs, export, viz,
train --resume) and charrnn.load must read each mutant or refuse it in one
line, under an address-space limit of four times the file plus 300 MB.

All mutants run in ONE child process (checkpoint_fuzz_child.py), which sets
the limit on itself (RLIMIT_AS; Numba's baseline is measured first) and calls
the commands in-process: a process per case would cost seconds each."""

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).parent / "checkpoint_fuzz_child.py"
# About 0.05 s each (10 calls); CHARRNN_FUZZ_EXAMPLES=5000 for a longer hunt.
EXAMPLES = int(os.environ.get("CHARRNN_FUZZ_EXAMPLES", "250"))


def test_every_mutant_is_read_or_refused_in_one_line_in_bounded_memory(tmp_path):
    child = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path), str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["examples"] == EXAMPLES and report["calls"] == 10 * EXAMPLES
    assert not report["failures"], json.dumps(report["failures"][:5], indent=1)
    # not only refusals: some mutants are still checkpoints, and every command reads them
    assert all(report["succeeded"].get(command) for command in ("sample", "train", "info"))
