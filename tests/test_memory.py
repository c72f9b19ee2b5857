"""Memory must not grow with the corpus: the ids live in a memory-mapped file."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
memory = pytest.importorskip("memory")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_anonymous_memory_does_not_grow_with_corpus_size(tmp_path):
    peaks = {}
    for mb in (1, 40):
        corpus = tmp_path / f"{mb}.txt"
        memory.make_corpus(corpus, mb)
        peaks[mb] = memory.peak_anon_kb(str(corpus), str(tmp_path / f"run{mb}"), mb)
    assert (peaks[40] - peaks[1]) / 1024 < 12  # MiB; a copy of the ids alone would be 39
