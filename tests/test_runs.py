"""Run directories and the commands that read them: a run never overwrites another
(-N directories, --force, --resume), --keep, the free-space check, umask
permissions, ``runs``, ``info``, ``eval --unknown skip``, ``sample --json`` and the
progress bar that follows the time budget."""
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections import namedtuple

import pytest
from click.testing import CliRunner

from charrnn import files
from charrnn.checkpoint import load
from charrnn.cli import main
from charrnn.runs import RUN_FIELDS

# a tiny model; --hidden comes separately where two runs must differ
SMALL = ["--layers", "1", "--batch-size", "4", "--seq-length", "16", "--seed", "3"]
TINY = ["--hidden", "16"] + SMALL + ["--quiet"]
STEP_FILE = re.compile(r"^step(\d+)_val[\d.]+\.npz$")


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(args):
    result = run(args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def fails(args, code=1):
    """The result of a command that must fail with ``code``: a message, no traceback."""
    result = run(args)
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    return result


def last_line(result):
    return result.stderr.strip().splitlines()[-1]


def npz_bytes(directory):
    """{name: bytes} of the .npz files in ``directory``."""
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))
            if name.endswith(".npz")}


def step_names(directory):
    return sorted(n for n in os.listdir(directory) if STEP_FILE.match(n))


# -- 1. no run overwrites another ------------------------------------------------------

def test_a_fresh_run_with_the_default_out_goes_to_a_new_directory(tmp_path, corpus_file,
                                                                 monkeypatch):
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

    message = last_line(fails(base + ["--hidden", "48", "--max-steps", "4", "--eval-every", "2",
                                      "--quiet"]))
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


# -- 2. bare --resume ---------------------------------------------------------------------

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
    message = last_line(fails(["train", corpus_file, "--resume", "--out", tmp_path / "empty"]
                              + TINY))
    assert "last.npz" in message


# -- 3. --keep and the free-space check ---------------------------------------------------

def test_keep_n_keeps_the_newest_step_files(tmp_path, corpus_file):
    args = ["train", corpus_file, "--eval-every", "2", "--max-steps", "12"] + TINY
    ok(args + ["--out", tmp_path / "two", "--keep", "2"])
    assert [int(STEP_FILE.match(n).group(1)) for n in step_names(tmp_path / "two")] == [10, 12]
    assert sorted(os.listdir(tmp_path / "two")) == \
        ["best.npz", "last.npz"] + step_names(tmp_path / "two")

    ok(args + ["--out", tmp_path / "none", "--keep", "0"])
    assert sorted(os.listdir(tmp_path / "none")) == ["best.npz", "last.npz"]

    ok(args + ["--out", tmp_path / "all", "--keep", "all"])
    assert [int(STEP_FILE.match(n).group(1)) for n in step_names(tmp_path / "all")] == \
        [2, 4, 6, 8, 10, 12]

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


# -- 4. runs ------------------------------------------------------------------------------

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
        load(str(root / "long" / "best.npz")).best_val)

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
    row, = json.loads(ok(["runs", tmp_path / "runs", "--json"]).stdout)
    assert row["best_checkpoint"] == str(tmp_path / "runs" / "a" / "best.npz")
    load(row["best_checkpoint"])


# -- 5. info ------------------------------------------------------------------------------

def test_info_reports_what_the_checkpoint_holds(trained, corpus_file):
    run_dir, _ = trained
    path = run_dir / "last.npz"
    ckpt = load(str(path))
    facts = json.loads(ok(["info", path, "--json"]).stdout)
    assert {"model", "training", "corpus", "vocabulary", "position", "histories"} <= set(facts)
    assert facts["format_version"] == 2
    assert facts["model"]["cell"] == ckpt.model.cell == "lstm"
    assert (facts["model"]["layers"], facts["model"]["hidden"]) == (2, 16)
    assert facts["model"]["vocab_size"] == ckpt.model.vocab_size == len(ckpt.vocab)
    assert facts["model"]["parameters"] == ckpt.params.size
    assert facts["training"]["hidden"] == 16 and facts["training"]["eval_every"] == 15
    text = corpus_file.read_text(encoding="utf-8")
    assert facts["corpus"]["sha256"] == hashlib.sha256(corpus_file.read_bytes()).hexdigest()
    assert facts["corpus"]["characters"] == len(text)
    assert facts["corpus"]["path"] == str(corpus_file)
    assert facts["vocabulary"] == ckpt.vocab.chars
    position = facts["position"]
    assert (position["step"], position["epoch"], position["batch_index"]) == \
        (ckpt.step, ckpt.epoch, ckpt.batch_index) and ckpt.step == 30
    assert position["lr"] == ckpt.lr and position["train_chars"] == ckpt.chars
    for name, history in (("train", ckpt.train_history), ("val", ckpt.val_history)):
        h = facts["histories"][name]
        assert h["rows"] == len(history)
        assert h["first"] == {"step": int(history[0, 0]), "loss": history[0, 1]}
        assert h["last"] == {"step": int(history[-1, 0]), "loss": history[-1, 1]}
        assert h["best"]["loss"] == history[:, 1].min()
    assert facts["best_val_loss"] == ckpt.best_val
    assert facts["file_bytes"] == path.stat().st_size

    out = ok(["info", path]).stdout
    assert "2x16 LSTM" in out and f"{ckpt.params.size:,} parameters" in out
    assert f"vocabulary {len(ckpt.vocab)}" in out and repr(ckpt.vocab.chars) in out
    assert "step 30" in out
    assert re.search(r"^train loss  first [\d.]+ \(step 1\)", out, re.M)
    assert re.search(r"^val loss    first [\d.]+ \(step 15\).*; 2 rows$", out, re.M)


def test_info_errors(tmp_path, trained):
    run_dir, _ = trained
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not a checkpoint")
    for target, words in ((run_dir, "is a directory"), (tmp_path / "none.npz", "no such"),
                          (garbage, "garbage.npz")):
        result = fails(["info", target])
        assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr


def test_info_on_a_version_1_checkpoint():
    from pathlib import Path
    fixture = Path(__file__).parent / "fixtures" / "v1" / "run" / "best.npz"
    facts = json.loads(ok(["info", fixture, "--json"]).stdout)
    assert facts["format_version"] == 1 and facts["model"]["cell"] == "lstm"
    assert facts["charrnn_version"] == "1.0" and facts["corpus"]["sha256"] is None
    assert "format 1" in ok(["info", fixture]).stdout


# -- 6. eval --unknown skip ---------------------------------------------------------------

def test_eval_can_skip_characters_the_model_never_saw(tmp_path, trained):
    run_dir, ckpt = trained
    best = run_dir / "best.npz"
    clean = "First Citizen:\nSpeak, speak.\n\nAll:\nYou are all resolved.\n\n" * 4
    assert "Z" not in ckpt.vocab.index and "\u00e9" not in ckpt.vocab.index
    noisy = clean.replace("Speak", "SpeaZk").replace("All", "All\u00e9")
    skipped = noisy.count("Z") + noisy.count("\u00e9")
    assert skipped == 8
    (tmp_path / "noisy.txt").write_text(noisy, encoding="utf-8")
    (tmp_path / "clean.txt").write_text(clean, encoding="utf-8")

    message = last_line(fails(["eval", best, tmp_path / "noisy.txt"]))
    assert "'Z'" in message and "'\u00e9'" in message

    result = ok(["eval", best, tmp_path / "noisy.txt", "--unknown", "skip"])
    assert f"skipped {skipped} characters" in result.stderr
    report = json.loads(ok(["eval", best, tmp_path / "noisy.txt", "--unknown", "skip",
                            "--json"]).stdout)
    expected = json.loads(ok(["eval", best, tmp_path / "clean.txt", "--json"]).stdout)
    assert report["skipped"] == skipped and expected["skipped"] == 0
    assert report["characters"] == expected["characters"] == len(clean) - 1
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-12)


# -- 7. permissions -----------------------------------------------------------------------

@pytest.mark.parametrize("mask,mode", [(0o002, 0o664), (0o077, 0o600)],
                         ids=["umask002", "umask077"])
def test_checkpoints_get_the_permissions_of_the_umask(tmp_path, corpus_file, mask, mode):
    out = tmp_path / "run"
    old = os.umask(mask)
    try:
        ok(["train", corpus_file, "--out", out, "--max-steps", "4", "--eval-every", "2"] + TINY)
    finally:
        os.umask(old)
    names = sorted(os.listdir(out))
    assert {"best.npz", "last.npz"} <= set(names) and len(step_names(out)) == 2
    assert {name: oct((out / name).stat().st_mode & 0o777) for name in names} == \
        {name: oct(mode) for name in names}


# -- 8. sample --json ---------------------------------------------------------------------

SAMPLE_FIELDS = {"checkpoint", "text", "prime", "characters", "length", "temperature", "top_k",
                 "greedy", "beam", "stop", "seed", "log_probability"}


def test_sample_json(trained):
    run_dir, _ = trained
    best = run_dir / "best.npz"

    def sample(*args):
        return json.loads(ok(["sample", best, "--json", "--length", "60"] + list(args)).stdout)

    seeded = sample("--seed", "7")
    assert set(seeded) >= SAMPLE_FIELDS
    assert len(seeded["text"]) == seeded["characters"] == seeded["length"] == 60
    assert seeded["seed"] == 7 and seeded["log_probability"] is None
    assert sample("--seed", "7")["text"] == seeded["text"]

    drawn = sample()
    assert isinstance(drawn["seed"], int)
    assert sample("--seed", str(drawn["seed"]))["text"] == drawn["text"]

    beam = sample("--beam", "3")
    assert beam["beam"] == 3 and len(beam["text"]) == 60
    assert math.isfinite(beam["log_probability"]) and beam["log_probability"] < 0


# -- 9. the progress bar follows the budget ----------------------------------------------

def bar_lines(stderr):
    return [line for line in re.split(r"[\r\n]", stderr) if "|" in line]


def seconds(interval):
    parts = [int(p) for p in interval.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def test_the_progress_bar_follows_the_time_budget(tmp_path, corpus_file):
    command = [sys.executable, "-m", "charrnn", "train", str(corpus_file), "--hidden", "16"] + \
        SMALL + ["--epochs", "100000", "--eval-every", "50"]
    # first (it compiles the kernels if the cache is cold): the bar counts --max-steps
    result = subprocess.run(command + ["--max-steps", "40", "--out", str(tmp_path / "s")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = bar_lines(result.stderr)
    assert lines and all("/40 " in line for line in lines), result.stderr
    assert "40/40" in lines[-1]

    result = subprocess.run(command + ["--max-time", "3s", "--out", str(tmp_path / "t")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in bar_lines(result.stderr) if " left" in line]
    assert len(lines) >= 2, result.stderr
    for line in lines:
        match = re.search(r"\| ([\d:]+) of ([\d:]+), ([\d:]+) left", line)
        assert match, line
        assert match.group(2) == "00:03", line
        assert seconds(match.group(3)) <= 3 and seconds(match.group(1)) <= 3, line

    # a budget that --max-steps ends first: the time left is that of the steps
    result = subprocess.run(command + ["--max-time", "1h", "--max-steps", "40", "--out",
                                       str(tmp_path / "both")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in bar_lines(result.stderr) if " left" in line]
    assert lines and lines[-1].startswith("100%"), result.stderr
    for line in lines:
        match = re.search(r"\| ([\d:]+) of ([\d:]+), ([\d:]+) left", line)
        assert match and match.group(2) == "1:00:00", line
        assert seconds(match.group(3)) <= 60, line


def test_compilation_is_not_charged_to_the_time_budget(tmp_path, corpus_file):
    """A first run compiles every kernel (a minute on a cold cache): before the
    clock starts, so a short --max-time still trains and its time is training."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "CHARRNN_NUMBA_CACHE_BASE")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # an empty cache: everything compiles
    command = [sys.executable, "-m", "charrnn", "train", str(corpus_file), "--hidden", "16"] + \
        SMALL + ["--epochs", "100000", "--eval-every", "50", "--max-time", "3s", "--json",
                 "--out", str(tmp_path / "run")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    end = json.loads(result.stdout.splitlines()[-1])
    assert end["stopped"] == "time"
    for line in [line for line in bar_lines(result.stderr) if " left" in line]:
        used = re.search(r"\| ([\d:]+) of ", line).group(1)
        assert seconds(used) <= 4, line
    assert end["train_seconds"] < 5 and end["steps"] > 10, end


# -- what a review found --------------------------------------------------------------

def test_force_changes_nothing_when_the_new_run_is_refused(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(["train", corpus_file, "--out", out, "--max-steps", 4, "--eval-every", 2] + TINY)
    before = npz_bytes(out)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"abc\0def")
    assert "NUL" in fails(["train", binary, "--out", out, "--force"] + TINY).output
    assert "--max-steps" in fails(["train", corpus_file, "--out", out, "--force",
                                   "--max-steps", 0] + TINY).output
    assert npz_bytes(out) == before


def test_resume_into_another_directory_brings_the_best_checkpoint(tmp_path, corpus_file):
    first, second = tmp_path / "a", tmp_path / "b"
    ok(["train", corpus_file, "--out", first, "--max-steps", 4, "--eval-every", 2] + TINY)
    result = ok(["train", corpus_file, "--resume", first / "last.npz", "--out", second,
                 "--max-steps", 6, "--eval-every", 2, "--json"] + TINY)
    end = json.loads(result.stdout.splitlines()[-1])
    assert os.path.isfile(end["best_checkpoint"]) and end["run_dir"] == str(second)
    best = load(str(second / "best.npz"))
    assert best.best_val == pytest.approx(load(str(second / "last.npz")).best_val)
    assert npz_bytes(first) == npz_bytes(first)  # the source run is left as it was
    row = json.loads(ok(["runs", tmp_path, "--json"]).stdout)
    assert {r["run"]: bool(r["best_checkpoint"]) for r in row} == {"a": True, "b": True}


def test_resuming_an_older_step_file_would_mix_branches(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(["train", corpus_file, "--out", out, "--max-steps", 6, "--eval-every", 2, "--keep",
        "all"] + TINY)
    older = out / step_names(out)[0]  # step 2
    message = fails(["train", corpus_file, "--resume", older, "--max-steps", 8] + TINY).output
    assert "two branches" in message and "--force" in message
    result = ok(["train", corpus_file, "--resume", older, "--max-steps", 8, "--eval-every", 2,
                 "--keep", "all", "--force"] + TINY[:-1])
    assert "deleting" in result.stderr
    steps = [int(STEP_FILE.match(n).group(1)) for n in step_names(out)]
    assert steps == [2, 4, 6, 8]  # 4 and 6 again, of the new branch
    best = load(str(out / "best.npz"))
    assert best.step in steps and best.best_val == min(load(str(out / n)).val_history[-1, 1]
                                                       for n in step_names(out))


def test_keep_0_on_resume_removes_the_old_step_files(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(["train", corpus_file, "--out", out, "--max-steps", 4, "--eval-every", 2] + TINY)
    assert len(step_names(out)) == 2
    ok(["train", corpus_file, "--out", out, "--resume", "--max-steps", 6, "--keep", 0] + TINY)
    assert step_names(out) == [] and (out / "last.npz").exists()


def test_a_refused_run_still_ends_its_json(tmp_path, corpus_file):
    out = tmp_path / "r"
    finished = ok(["train", corpus_file, "--out", out, "--max-steps", 2, "--eval-every", 2,
                   "--json"] + TINY)
    fields = set(json.loads(finished.stdout.splitlines()[-1]))
    for extra in [[], ["--force", "--max-steps", "0"]]:
        result = fails(["train", corpus_file, "--out", out, "--json"] + TINY + extra)
        end = json.loads(result.stdout.splitlines()[-1])
        assert end["event"] == "end" and end["stopped"] == "error" and end["error"]
        assert set(end) == fields


def test_bad_numbers_for_sampling(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(["train", corpus_file, "--out", out, "--max-steps", 2, "--eval-every", 2] + TINY)
    for value in ["inf", "nan", "0"]:
        assert "--temperature" in fails(["sample", out / "best.npz", "-t", value]).output
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    assert "not an .npz file" in fails(["info", text]).output
