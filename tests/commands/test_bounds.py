"""Sizes and numbers the commands refuse, each with one line before anything
is allocated or written: seeds below zero, beams wider than MAX_BEAM or
larger than memory, models whose activations do not fit in memory, and
checkpoints that do not fit on the disk."""

import os
import re

import pytest

from command_helpers import TINY, fails, last_line, ok

MAX_BEAM = 1000  # sample.MAX_BEAM, the widest beam


def test_a_negative_seed_is_refused_by_train_and_sample(tmp_path, corpus_file, trained):
    message = last_line(fails(["train", corpus_file, "--out", tmp_path] + TINY + ["--seed", "-1"]))
    assert message == "Error: --seed must be a number >= 0, not -1"
    assert not (tmp_path / "last.npz").exists()
    out, _ = trained
    for beam in ([], ["--beam", "2"]):
        message = last_line(fails(["sample", out / "best.npz", "-n", "5", "--seed", "-1"] + beam))
        assert message == "Error: --seed must be a number >= 0, not -1"


@pytest.mark.parametrize("width", [MAX_BEAM + 1, 100_000_000])
def test_a_beam_wider_than_the_cap_is_refused(trained, width):
    out, _ = trained
    message = last_line(fails(["sample", out / "best.npz", "-n", "5", "--beam", width]))
    assert f"--beam must be from 1 to 1,000, not {width:,}" in message


def test_a_beam_larger_than_memory_is_refused(trained):
    out, _ = trained
    ok(["sample", out / "best.npz", "-n", "3", "--beam", MAX_BEAM])  # the widest is allowed
    # each beam keeps its parent and character at every step: 1.6 TB here
    message = last_line(fails(["sample", out / "best.npz", "-n", "100000000", "--beam", MAX_BEAM]))
    assert "a beam of 1,000 over 100,000,000 characters would take 1,600.0 GB" in message
    assert "lower --beam or --length" in message


def test_a_model_whose_activations_exceed_memory_is_refused(tmp_path, corpus_file):
    # 2M parameters, but 1,000 layers of 16 units keep 1.9 TB of gates and
    # dropout masks over a chunk of 100,000 streams x 50
    args = ["train", corpus_file, "--out", tmp_path, "--quiet"]
    args += ["--hidden", "16", "--layers", "1000", "--batch-size", "100000"]
    message = last_line(fails(args))
    assert re.search(r"activations would take 1,9\d\d\.\d GB of memory", message)
    assert "lower --layers, --hidden, --batch-size or --seq-length" in message
    assert os.listdir(tmp_path) == []


def test_a_disk_too_small_for_the_checkpoints_is_refused_before_training(
    tmp_path, corpus_file, small_disk
):
    # The 1x16 LSTM's checkpoints are 57 kB (15 pages of 4 kB): best, last and
    # the one being written take 180 kB, more than the 148 kB this disk has
    # once the lock and the encoded corpus are on it.  Weights and Adam's
    # moments alone (3 x 45 kB) would fit: the estimate counts the zip's and
    # the .npy headers, every field, the carried state and whole pages.
    out = small_disk(tmp_path / "disk", "160k")
    args = ["train", corpus_file, "--out", out, "--eval-every", "2", "--max-steps", "20"]
    message = last_line(fails(args + TINY + ["--keep", "0"]))
    assert "MB free, but the 3 checkpoints this run keeps (--keep 0) need" in message
    assert not [name for name in os.listdir(out) if name.endswith(".npz")]


def test_a_control_groups_limit_counts_less_what_the_group_uses(tmp_path, monkeypatch):
    """A container's limit leaves what its processes do not already hold."""
    from charrnn import memory

    (tmp_path / "memory.max").write_text("1000000000\n")
    (tmp_path / "memory.current").write_text("300000000\n")
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("max\n")  # no limit
    monkeypatch.setattr(memory, "CGROUP_ROOT", str(tmp_path))
    assert 700_000_000 in memory.cgroup_limits()
    assert memory.available_bytes() <= 700_000_000
