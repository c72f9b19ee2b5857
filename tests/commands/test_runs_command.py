"""``charrnn runs``: finished, damaged and live runs, sorted; missing and empty
directories; the best checkpoint the README's scripting example reads."""

import hashlib
import json
import os
import shutil

import pytest

from charrnn import files
from charrnn.checkpoint import load
from charrnn.runs import RUN_FIELDS
from command_helpers import TINY, fails, last_line, ok


def test_runs_lists_finished_damaged_and_live_runs(tmp_path, corpus_file):
    root = tmp_path / "root"
    base = ["train", corpus_file, "--eval-every", "6"] + TINY
    ok(base + ["--out", root / "short", "--max-steps", "12"])
    ok(base + ["--out", root / "long", "--max-steps", "60"])
    shutil.copytree(root / "short", root / "damaged")
    (root / "damaged" / "last.npz").write_bytes(b"PK\x03\x04 not a checkpoint at all")
    shutil.copytree(root / "short", root / "live")
    (root / "starting").mkdir()  # a process that holds the lock, no checkpoint yet
    locks = [files.try_lock(str(root / name)) for name in ("live", "starting")]
    assert None not in locks  # held by this (live) process
    try:
        rows = json.loads(ok(["runs", root, "--json"]).stdout)
        table = ok(["runs", root]).stdout
        by_steps = json.loads(ok(["runs", root, "--json", "--sort", "steps"]).stdout)
    finally:
        for lock in locks:
            lock.release()

    assert [set(row) for row in rows] == [set(RUN_FIELDS)] * 5
    by_name = {row["run"]: row for row in rows}
    assert set(by_name) == {"short", "long", "damaged", "live", "starting"}
    bests = [row["best_val_loss"] for row in rows if row["best_val_loss"] is not None]
    assert bests == sorted(bests) and len(bests) == 3
    assert rows[0]["run"] == "long"
    assert [row["run"] for row in rows[3:]] == ["damaged", "starting"]  # no loss: by name
    assert by_name["long"]["best_val_loss"] == pytest.approx(
        load(str(root / "long" / "best.npz")).best_val
    )

    short = by_name["short"]
    assert short["status"] == "ok" and short["holder"] is None and short["error"] is None
    assert (short["steps"], short["hidden"], short["layers"], short["cell"]) == (12, 16, 1, "lstm")
    assert short["corpus"] == "play.txt"
    assert short["corpus_sha256"] == hashlib.sha256(corpus_file.read_bytes()).hexdigest()
    assert short["checkpoint"].endswith("last.npz")
    damaged = by_name["damaged"]
    assert damaged["status"] == "damaged" and damaged["error"]
    for name in ("live", "starting"):
        row = by_name[name]
        assert row["status"] == "training" and f"pid {os.getpid()}," in row["holder"]
    assert by_name["starting"]["steps"] is None and by_name["starting"]["checkpoint"] is None

    lines = table.splitlines()
    assert lines[0].split()[:2] == ["run", "status"]
    body = lines[1:6]
    assert [line.split()[0] for line in body] == [row["run"] for row in rows]
    row_of = {line.split()[0]: line for line in body}
    assert row_of["short"].split()[1] == "ok"
    assert row_of["damaged"].split()[1] == "damaged"
    assert f"training (pid {os.getpid()})" in row_of["live"]
    assert f"training (pid {os.getpid()})" in row_of["starting"]
    assert [line.split(":")[0] for line in lines[6:]] == ["damaged"]  # the reason, below

    steps = [row["steps"] for row in by_steps if row["steps"] is not None]
    assert steps == sorted(steps, reverse=True) and by_steps[0]["run"] == "long"
    assert [row["run"] for row in by_steps[3:]] == ["damaged", "starting"]


def test_runs_on_a_missing_or_empty_directory(tmp_path):
    assert "no such directory" in last_line(fails(["runs", tmp_path / "missing"]))
    (tmp_path / "empty").mkdir()
    assert json.loads(ok(["runs", tmp_path / "empty", "--json"]).stdout) == []
    result = ok(["runs", tmp_path / "empty"])
    assert result.stdout == "" and "no runs" in result.stderr


def test_runs_json_has_the_best_checkpoint_the_readme_documents(tmp_path, trained):
    """The README's scripting example picks ``[0]["best_checkpoint"]`` of ``runs --json``."""
    run_dir, _ = trained
    shutil.copytree(run_dir, tmp_path / "runs" / "a")
    (row,) = json.loads(ok(["runs", tmp_path / "runs", "--json"]).stdout)
    assert row["best_checkpoint"] == str(tmp_path / "runs" / "a" / "best.npz")
    load(row["best_checkpoint"])
