"""Run directories: a run never overwrites another (-N directories, --force,
--resume, bare --resume), --keep and the free-space check; a refused run
changes nothing and still ends its JSON."""

import json
import os
import shutil
from collections import namedtuple

import pytest

from charrnn import files
from charrnn.checkpoint import load
from command_helpers import SMALL, STEP_FILE, TINY, fails, last_line, npz_bytes, ok, step_names


def test_a_fresh_run_with_the_default_out_goes_to_a_new_directory(
    tmp_path, corpus_file, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    args = ["train", corpus_file, "--max-steps", "6", "--eval-every", "3"] + SMALL
    ok(args + ["--hidden", "32", "--quiet"])
    first = tmp_path / "checkpoints" / "play"
    before = npz_bytes(first)
    assert {"best.npz", "last.npz"} <= set(before)

    result = ok(args + ["--hidden", "48"])  # not --quiet: it says where the run goes
    second = tmp_path / "checkpoints" / "play-2"
    assert os.path.join("checkpoints", "play-2") in result.stderr
    assert npz_bytes(first) == before
    assert load(str(first / "last.npz")).model.hidden == 32
    assert load(str(second / "last.npz")).model.hidden == 48
    assert load(str(second / "best.npz")).model.hidden == 48


def test_an_explicit_out_holding_a_run_is_refused_unless_force(tmp_path, corpus_file):
    out = tmp_path / "r"
    base = ["train", corpus_file, "--out", out] + SMALL
    ok(base + ["--hidden", "32", "--max-steps", "6", "--eval-every", "3", "--quiet"])
    old_steps = step_names(out)
    assert len(old_steps) == 2
    before = npz_bytes(out)

    message = last_line(
        fails(base + ["--hidden", "48", "--max-steps", "4", "--eval-every", "2", "--quiet"])
    )
    assert "--resume" in message and "--force" in message
    assert npz_bytes(out) == before
    assert not (out / files.LOCK_NAME).exists()

    # --force: says what it replaces, and no file of the old run is left
    result = ok(base + ["--hidden", "48", "--max-steps", "4", "--eval-every", "2", "--force"])
    assert "replacing" in result.stderr and "1x32" in result.stderr
    for name in before:
        assert name in result.stderr
    new_steps = step_names(out)
    assert [int(STEP_FILE.match(n).group(1)) for n in new_steps] == [2, 4]
    assert not set(old_steps) & set(new_steps)
    for name in npz_bytes(out):
        ckpt = load(str(out / name))
        assert ckpt.model.hidden == 48, name
        assert ckpt.step in (2, 4), name
    assert load(str(out / "last.npz")).step == 4
    assert not (out / files.LOCK_NAME).exists()


def test_bare_resume_continues_the_newest_run_of_the_corpus(tmp_path, corpus_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", corpus_file, "--max-steps", "6", "--eval-every", "3"] + TINY
    ok(args)
    ok(args)
    first, second = (tmp_path / "checkpoints" / name for name in ("play", "play-2"))
    os.utime(first / "last.npz", (1e9, 1e9))  # the -2 run is clearly the newest
    first_before = npz_bytes(first)

    ok(["train", corpus_file, "--resume", "--max-steps", "9", "--quiet"])
    assert load(str(second / "last.npz")).step == 9
    assert npz_bytes(first) == first_before

    # and by modification time, not by name: now the first run is the newest
    os.utime(second / "last.npz", (1e9 - 10, 1e9 - 10))
    os.utime(first / "last.npz", None)
    second_before = npz_bytes(second)
    ok(["train", corpus_file, "--resume", "--max-steps", "12", "--quiet"])
    assert load(str(first / "last.npz")).step == 12
    assert npz_bytes(second) == second_before


def test_bare_resume_without_a_run_is_an_error(tmp_path, corpus_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = last_line(fails(["train", corpus_file, "--resume"] + TINY))
    assert "--resume" in message and "play" in message
    assert not (tmp_path / "checkpoints" / "play" / "last.npz").exists()
    (tmp_path / "empty").mkdir()
    message = last_line(
        fails(["train", corpus_file, "--resume", "--out", tmp_path / "empty"] + TINY)
    )
    assert "last.npz" in message


def test_keep_n_keeps_the_newest_step_files(tmp_path, corpus_file):
    args = ["train", corpus_file, "--eval-every", "2", "--max-steps", "12"] + TINY
    ok(args + ["--out", tmp_path / "two", "--keep", "2"])
    assert [int(STEP_FILE.match(n).group(1)) for n in step_names(tmp_path / "two")] == [10, 12]
    assert sorted(os.listdir(tmp_path / "two")) == ["best.npz", "last.npz"] + step_names(
        tmp_path / "two"
    )

    ok(args + ["--out", tmp_path / "none", "--keep", "0"])
    assert sorted(os.listdir(tmp_path / "none")) == ["best.npz", "last.npz"]

    ok(args + ["--out", tmp_path / "all", "--keep", "all"])
    assert [int(STEP_FILE.match(n).group(1)) for n in step_names(tmp_path / "all")] == [
        2,
        4,
        6,
        8,
        10,
        12,
    ]

    for bad in ("-1", "x"):
        result = fails(args + ["--out", tmp_path / "bad", "--keep", bad], code=2)
        assert "--keep" in result.stderr
    assert not (tmp_path / "bad" / "last.npz").exists()


def test_the_free_space_check_counts_the_kept_files(tmp_path, corpus_file, monkeypatch):
    # The 1x16 LSTM's checkpoints are ~45 kB (weights and Adam's two moments):
    # 300 kB holds best, last and a temporary file (--keep 0), not those and 11
    # step files (--keep all over 20 steps validated every 2).
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 300_000))
    args = ["train", corpus_file, "--eval-every", "2", "--max-steps", "20"] + TINY
    message = last_line(fails(args + ["--out", tmp_path / "all", "--keep", "all"]))
    assert "MB free" in message and "--keep all" in message
    assert not (tmp_path / "all" / "last.npz").exists()
    ok(args + ["--out", tmp_path / "none", "--keep", "0"])
    assert sorted(os.listdir(tmp_path / "none")) == ["best.npz", "last.npz"]


def test_force_changes_nothing_when_the_new_run_is_refused(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(["train", corpus_file, "--out", out, "--max-steps", 4, "--eval-every", 2] + TINY)
    before = npz_bytes(out)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"abc\0def")
    assert "NUL" in fails(["train", binary, "--out", out, "--force"] + TINY).output
    assert (
        "--max-steps"
        in fails(["train", corpus_file, "--out", out, "--force", "--max-steps", 0] + TINY).output
    )
    assert npz_bytes(out) == before


def test_resume_into_another_directory_brings_the_best_checkpoint(tmp_path, corpus_file):
    first, second = tmp_path / "a", tmp_path / "b"
    ok(["train", corpus_file, "--out", first, "--max-steps", 4, "--eval-every", 2] + TINY)
    result = ok(
        [
            "train",
            corpus_file,
            "--resume",
            first / "last.npz",
            "--out",
            second,
            "--max-steps",
            6,
            "--eval-every",
            2,
            "--json",
        ]
        + TINY
    )
    end = json.loads(result.stdout.splitlines()[-1])
    assert os.path.isfile(end["best_checkpoint"]) and end["run_dir"] == str(second)
    best = load(str(second / "best.npz"))
    assert best.best_val == pytest.approx(load(str(second / "last.npz")).best_val)
    assert npz_bytes(first) == npz_bytes(first)  # the source run is left as it was
    row = json.loads(ok(["runs", tmp_path, "--json"]).stdout)
    assert {r["run"]: bool(r["best_checkpoint"]) for r in row} == {"a": True, "b": True}


def test_resuming_an_older_step_file_would_mix_branches(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(
        ["train", corpus_file, "--out", out, "--max-steps", 6, "--eval-every", 2, "--keep", "all"]
        + TINY
    )
    older = out / step_names(out)[0]  # step 2
    message = fails(["train", corpus_file, "--resume", older, "--max-steps", 8] + TINY).output
    assert "two branches" in message and "--force" in message
    result = ok(
        [
            "train",
            corpus_file,
            "--resume",
            older,
            "--max-steps",
            8,
            "--eval-every",
            2,
            "--keep",
            "all",
            "--force",
        ]
        + TINY[:-1]
    )
    assert "deleting" in result.stderr
    steps = [int(STEP_FILE.match(n).group(1)) for n in step_names(out)]
    assert steps == [2, 4, 6, 8]  # 4 and 6 again, of the new branch
    best = load(str(out / "best.npz"))
    assert best.step in steps and best.best_val == min(
        load(str(out / n)).val_history[-1, 1] for n in step_names(out)
    )


def test_keep_0_on_resume_removes_the_old_step_files(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(["train", corpus_file, "--out", out, "--max-steps", 4, "--eval-every", 2] + TINY)
    assert len(step_names(out)) == 2
    ok(["train", corpus_file, "--out", out, "--resume", "--max-steps", 6, "--keep", 0] + TINY)
    assert step_names(out) == [] and (out / "last.npz").exists()


def test_a_refused_run_still_ends_its_json(tmp_path, corpus_file):
    out = tmp_path / "r"
    finished = ok(
        ["train", corpus_file, "--out", out, "--max-steps", 2, "--eval-every", 2, "--json"] + TINY
    )
    fields = set(json.loads(finished.stdout.splitlines()[-1]))
    for extra in [[], ["--force", "--max-steps", "0"]]:
        result = fails(["train", corpus_file, "--out", out, "--json"] + TINY + extra)
        end = json.loads(result.stdout.splitlines()[-1])
        assert end["event"] == "end" and end["stopped"] == "error" and end["error"]
        assert set(end) == fields
