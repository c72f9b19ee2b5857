"""What the commands do with a checkpoint that is not what charrnn wrote:
weights that are not finite are refused by everything that uses them and
reported by info and runs; a damaged run is one row of runs, not its end;
a stale lock is not a training run; resume refuses a position outside the
epoch; every message names the file once."""

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

import charrnn
from charrnn import files
from charrnn.errors import CharrnnError
from checkpoint_files import huge_npy_header, members_of, write_members
from command_helpers import fails, ok

V1 = Path(__file__).parent.parent / "fixtures" / "v1"


def copy_run(trained, to, **changes):
    """A copy of the trained run in ``to``, its last.npz with ``changes``."""
    shutil.copytree(trained[0], to)
    members = {**members_of(to / "last.npz"), **changes}
    write_members(to / "last.npz", members)
    return to / "last.npz"


def one_line(result, path, words):
    """The error line of a refused command: it names ``path`` once, and says ``words``."""
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("Error: "), result.stderr
    assert line.count(str(path)) == 1 and words in line, line
    return line


def not_finite(trained):
    params = members_of(trained[0] / "last.npz")["params"].copy()
    params[11] = np.nan
    return params


def test_weights_that_are_not_finite_are_refused_by_every_command_that_uses_them(
    tmp_path, trained, corpus_file
):
    path = copy_run(trained, tmp_path / "run", params=not_finite(trained))
    commands = {
        "sample": ["sample", path, "-n", "10"],
        "eval": ["eval", path, corpus_file],
        "export": ["export", path, tmp_path / "m.safetensors"],
        "viz": ["viz", path, corpus_file, "--length", "20"],
        "resume": ["train", corpus_file, "--resume", path, "--max-steps", "40", "--quiet"],
    }
    for name, args in commands.items():
        one_line(fails(args), path, "params: not finite (NaN or infinite)")
    assert not (tmp_path / "m.safetensors").exists()
    with pytest.raises(CharrnnError, match="params: not finite"):
        charrnn.load(str(path))


def test_info_and_runs_report_weights_that_are_not_finite_with_the_history(tmp_path, trained):
    path = copy_run(trained, tmp_path / "runs" / "diverged", params=not_finite(trained))
    text = ok(["info", path]).stdout
    assert "weights: not finite (NaN or infinite)" in text and "val loss    first" in text
    facts = json.loads(ok(["info", path, "--json"]).stdout)
    assert facts["model"]["weights_finite"] is False and facts["histories"]["val"]["rows"] == 2
    assert json.loads(ok(["info", trained[0] / "last.npz", "--json"]).stdout)["model"][
        "weights_finite"
    ]
    (row,) = json.loads(ok(["runs", tmp_path / "runs", "--json"]).stdout)
    assert row["status"] == "damaged" and "weights: not finite" in row["error"]
    assert row["error"].count(str(path)) == 1
    assert row["best_val_loss"] is not None and row["steps"] == 30
    assert "weights: not finite" in ok(["runs", tmp_path / "runs"]).stdout


def test_one_damaged_run_does_not_stop_runs(tmp_path, trained):
    root = tmp_path / "runs"
    shutil.copytree(trained[0], root / "good")
    damaged = {
        "huge-vocab": dict(vocab=huge_npy_header(dtype="<i4")),
        "huge-extra": dict(extra=huge_npy_header()),  # not read: the run is fine
        "config-list": dict(train_config=np.array("[1, 2]")),
        "schedule-null": dict(schedule=np.array("null")),
        "history-rank": dict(val_history=np.zeros(2)),
    }
    for name, changes in damaged.items():
        copy_run(trained, root / name, **changes)
    rows = {row["run"]: row for row in json.loads(ok(["runs", root, "--json"]).stdout)}
    assert set(rows) == {"good", *damaged}
    for name in ("good", "huge-extra"):
        assert rows[name]["status"] == "ok" and rows[name]["steps"] == 30
    for name in set(damaged) - {"huge-extra"}:
        row = rows[name]
        assert row["status"] == "damaged", row
        assert row["error"].startswith(str(root / name / "last.npz") + ": "), row
    table = ok(["runs", root]).stdout
    assert len([line for line in table.splitlines() if " damaged " in line]) == 4


def test_runs_checks_a_lock_by_trying_it_not_by_its_pid(tmp_path, trained):
    run = tmp_path / "runs" / "run"
    shutil.copytree(trained[0], run)
    holder = {  # left by a killed process whose pid is now this (live) test's
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": "2026-01-01T00:00:00+00:00",
        "command": "charrnn train play.txt",
    }
    (run / files.LOCK_NAME).write_text(json.dumps(holder))
    (row,) = json.loads(ok(["runs", tmp_path / "runs", "--json"]).stdout)
    assert row["status"] == "ok" and row["holder"] is None
    lock = files.try_lock(str(run))  # as train takes it
    try:
        (row,) = json.loads(ok(["runs", tmp_path / "runs", "--json"]).stdout)
    finally:
        lock.release()
    assert row["status"] == "training" and f"pid {os.getpid()}," in row["holder"]


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    # a version-1 file has no steps_per_epoch: the batch index is checked against the corpus
    shutil.copytree(V1 / "run", tmp_path / "run")
    last = tmp_path / "run" / "last.npz"
    write_members(last, {**members_of(last), "batch_index": np.array(10**9)})
    args = ["train", V1 / "play.txt", "--resume", last, "--max-steps", "45", "--quiet"]
    one_line(fails(args), last, "batch_index: 1,000,000,000, but an epoch has")
    write_members(last, {**members_of(V1 / "run" / "last.npz"), "rng_state": np.array("{}")})
    one_line(fails(args), last, "rng_state: empty")


def test_messages_name_the_file_once(tmp_path, trained, corpus_file):
    damaged = {
        "pickle": dict(params=np.array([1.0], dtype=object)),
        "magic": dict(magic=np.array("something else")),
        "version": dict(format_version=np.array(99)),
        "config": dict(model_config=np.array('{"vocab_size": 33}')),
    }
    for name, changes in damaged.items():
        path = copy_run(trained, tmp_path / name, **changes)
        for args in (["sample", path], ["info", path], ["eval", path, corpus_file]):
            one_line(fails(args), path, ": ")


def test_strings_from_the_file_cannot_write_escape_sequences(tmp_path, trained):
    members = members_of(trained[0] / "last.npz")
    train_config = json.loads(str(members["train_config"]))
    train_config["corpus"] = "/tmp/\x1b[2J\x1b[31mplay.txt"
    train_config["new_option\x1b[1m"] = "\x1b]0;title\x07"
    path = copy_run(
        trained, tmp_path / "runs" / "run", train_config=np.array(json.dumps(train_config))
    )
    for args in (["info", path], ["runs", tmp_path / "runs"]):
        out = ok(args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\\x1b" in out, out


def test_train_refuses_a_model_that_load_would_refuse(tmp_path, corpus_file):
    result = fails(["train", corpus_file, "--layers", "1001", "--hidden", "1", "--out", tmp_path])
    assert "--layers 1,001: more than 1,000" in result.stderr
