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

import charrnn

CHILD = Path(__file__).parent / "checkpoint_fuzz_child.py"
# About 0.05 s each (10 calls); CHARRNN_FUZZ_EXAMPLES=5000 for a longer hunt.
EXAMPLES = int(os.environ.get("CHARRNN_FUZZ_EXAMPLES", "400"))


def importable(package):
    """PYTHONPATH for a child that imports the same ``package`` as this process."""
    here = str(Path(package.__file__).parent.parent)
    return os.pathsep.join([here] + [p for p in [os.environ.get("PYTHONPATH")] if p])


def test_every_mutant_is_read_or_refused_in_one_line_in_bounded_memory(tmp_path):
    child = subprocess.run(
        [sys.executable, str(CHILD), str(tmp_path), str(EXAMPLES)],
        capture_output=True,
        text=True,
        timeout=900,
        # glibc reserves 64 MB of address space for each malloc arena it adds
        # when threads contend (up to 8 a core): at most 2, so that the limit
        # measures what the commands allocate, not how busy the machine is
        env={**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONPATH": importable(charrnn)},
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["examples"] == EXAMPLES and report["calls"] == 10 * EXAMPLES
    assert not report["failures"], json.dumps(report["failures"][:5], indent=1)
    # not only refusals: some mutants are still checkpoints, and every command reads them
    assert all(report["succeeded"].get(command) for command in ("sample", "train", "info"))
