import os
import subprocess

import numpy as np
import pytest

import reference
from texts import TEXT

from charrnn.cells import CELLS
from charrnn.train import TrainConfig, train

# tests/test_registry.py runs the suite with a throwaway eighth cell added as
# a new cell is (one line in CELLS, a reference beside its equations), to
# show that every per-cell test reaches it.
if os.environ.get("CHARRNN_TEST_EIGHTH_CELL"):
    import eighth_cell

    CELLS["sgu"] = "eighth_cell"
    reference.STEPS["sgu"] = eighth_cell.reference_step


@pytest.fixture(scope="session")
def text():
    return TEXT * 40


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text(text, encoding="utf-8")
    return path


TINY = dict(
    hidden=16,
    layers=2,
    batch_size=4,
    seq_length=16,
    max_steps=30,
    eval_every=15,
    seed=1,
    val_frac=0.1,
)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, corpus_file):
    """(run directory, final checkpoint) of a tiny model trained on the corpus."""
    out = tmp_path_factory.mktemp("run")
    ckpt = train(str(corpus_file), TrainConfig(**TINY), str(out), quiet=True, log=lambda m: None)
    return out, ckpt


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def small_disk():
    """small_disk(path, size): a directory ``path`` on a disk of its own that
    holds ``size`` ("64k"), a tmpfs unmounted after the test: a disk that
    really fills up.  Mounting needs root (as here and in CI); elsewhere the
    test is skipped."""
    mounted = []

    def mount(path, size):
        path.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "--lazy", str(path)], check=True)
