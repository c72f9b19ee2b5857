"""Memory must not grow with the corpus: the ids live in a memory-mapped file.
bench/memory.py measures it, run here as a user runs it."""

import subprocess
import sys
from pathlib import Path

import pytest

MEMORY = Path(__file__).resolve().parents[2] / "bench" / "memory.py"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_anonymous_memory_does_not_grow_with_corpus_size():
    # 12 MiB from 1 MB to 40 MB of corpus: a copy of the ids alone would be 39
    result = subprocess.run(
        [sys.executable, str(MEMORY), "--big", "40", "--limit", "12"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout.splitlines()[-1]
