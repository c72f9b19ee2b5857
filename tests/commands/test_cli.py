"""Every command through click's CliRunner, including its failures on bad input."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn.checkpoint import load
from charrnn.cli import main

TINY_ARGS = [
    "--hidden",
    "16",
    "--layers",
    "1",
    "--batch-size",
    "4",
    "--seq-length",
    "16",
    "--eval-every",
    "10",
    "--quiet",
    "--seed",
    "3",
]


def run(args, **kwargs):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["eval"], ["corpus"]])
def test_help(command):
    result = run(command + ["--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_train_sample_eval(tmp_path, corpus_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(["train", str(corpus_file), "--max-steps", "20"] + TINY_ARGS)
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "checkpoints" / "play"
    names = sorted(os.listdir(run_dir))
    assert {"best.npz", "last.npz"} <= set(names)
    assert "step0000010_val" in names[2] and "step0000020_val" in names[3]
    ckpt = load(str(run_dir / "last.npz"))
    assert ckpt.step == 20 and ckpt.val_history.shape == (2, 2) and len(ckpt.train_history) == 20

    # no checkpoint named: best.npz of the newest run, announced on stderr
    result = CliRunner().invoke(main, ["sample", "--length", "50", "--seed", "1"])
    assert result.exit_code == 0, result.stderr
    assert "best.npz" in result.stderr
    assert len(result.stdout) == 51  # the text and a final newline
    again = CliRunner().invoke(main, ["sample", "--length", "50", "--seed", "1"])
    assert again.stdout == result.stdout

    result = run(
        [
            "sample",
            str(run_dir / "best.npz"),
            "--prime",
            "First",
            "--length",
            "40",
            "--temperature",
            "0.5",
            "--top-k",
            "3",
        ]
    )
    assert result.exit_code == 0 and result.stdout.startswith("First")
    assert len(result.stdout) == len("First") + 40 + 1

    greedy = run(["sample", str(run_dir / "best.npz"), "--greedy", "--length", "30"]).stdout
    beam1 = run(["sample", str(run_dir / "best.npz"), "--beam", "1", "--length", "30"]).stdout
    assert greedy == beam1
    result = run(["sample", str(run_dir / "best.npz"), "--beam", "7", "--length", "30"])
    assert result.exit_code == 0 and len(result.stdout) == 31
    result = run(
        ["sample", str(run_dir / "best.npz"), "--stop", "\n", "--length", "500", "--seed", "2"]
    )
    assert result.stdout.count("\n") <= 2 and len(result.stdout) <= 502

    result = CliRunner().invoke(
        main, ["eval", str(run_dir / "best.npz"), str(corpus_file), "--json"]
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["characters"] == len(corpus_file.read_text()) - 1
    assert report["bits_per_char"] == pytest.approx(report["loss"] / np.log(2))
    assert report["perplexity"] == pytest.approx(np.exp(report["loss"]))
    result = run(["eval", str(run_dir / "best.npz"), str(corpus_file)])
    assert "bits/char" in result.output


def test_training_is_reproducible_with_a_seed(tmp_path, corpus_file):
    for name in ("a", "b"):
        assert (
            run(
                ["train", str(corpus_file), "--max-steps", "8", "--out", str(tmp_path / name)]
                + TINY_ARGS
                + ["--dropout", "0.3"]
            ).exit_code
            == 0
        )
    a, b = load(str(tmp_path / "a" / "last.npz")), load(str(tmp_path / "b" / "last.npz"))
    np.testing.assert_array_equal(a.params, b.params)


def test_max_time_stops_training(tmp_path, corpus_file):
    result = run(
        [
            "train",
            str(corpus_file),
            "--max-time",
            "1s",
            "--epochs",
            "100000",
            "--out",
            str(tmp_path),
        ]
        + TINY_ARGS
    )
    assert result.exit_code == 0
    assert load(str(tmp_path / "last.npz")).step < 100000


def test_max_chars_is_a_budget_of_the_whole_run(tmp_path, corpus_file):
    """Characters over all resumes, in whole steps of B*T = 64 characters."""
    out = str(tmp_path / "run")
    ended = run(
        [
            "train",
            str(corpus_file),
            "--max-chars",
            "1000",
            "--epochs",
            "100000",
            "--out",
            out,
            "--json",
        ]
        + TINY_ARGS
    )
    assert ended.exit_code == 0, ended.output
    end = json.loads(ended.stdout.splitlines()[-1])
    assert end["stopped"] == "chars" and end["steps"] == 16  # ceil(1000 / 64)
    assert load(os.path.join(out, "last.npz")).chars == 16 * 64
    more = run(
        [
            "train",
            str(corpus_file),
            "--resume",
            os.path.join(out, "last.npz"),
            "--max-chars",
            "2k",
            "--json",
            "--quiet",
        ]
    )
    assert more.exit_code == 0, more.output
    end = json.loads(more.stdout.splitlines()[-1])
    assert end["stopped"] == "chars" and end["steps"] == 32  # the run's 2,000, not 2,000 more
    assert "--max-chars" in error_of(["train", str(corpus_file), "--max-chars", "lots"])
    assert "--max-chars must be at least 1" in error_of(
        ["train", str(corpus_file), "--max-chars", "0"]
    )


def error_of(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    return lines[-1]


def test_train_errors(tmp_path, corpus_file):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    short = tmp_path / "short.txt"
    short.write_text("just a few words\n")
    binary = tmp_path / "bin.dat"
    binary.write_bytes(bytes(range(256)) * 4)
    out = ["--out", str(tmp_path / "out")]
    assert "does not exist" in error_of(["train", str(tmp_path / "nope.txt")])
    assert "is a directory" in error_of(["train", str(tmp_path)])
    assert "empty" in error_of(["train", str(empty)] + out)
    message = error_of(["train", str(short)] + out)
    assert "one batch needs" in message and "--batch-size" in message
    assert "binary" in error_of(["train", str(binary)] + out)
    for option, value in [
        ("--hidden", "0"),
        ("--seq-length", "-1"),
        ("--dropout", "1.0"),
        ("--val-frac", "0"),
        ("--lr", "-0.1"),
        ("--lr-decay", "2"),
        ("--max-steps", "0"),
    ]:
        assert option in error_of(["train", str(corpus_file), option, value] + out), option
    assert "duration" in error_of(["train", str(corpus_file), "--max-time", "soon"] + out)
    assert "--optimizer" in error_of(["train", str(corpus_file), "--optimizer", "lbfgs"] + out)
    assert "parameters" in error_of(["train", str(corpus_file), "--hidden", "1000000"] + out)


def test_sample_and_eval_errors(tmp_path, trained, corpus_file, monkeypatch):
    run_dir, _ = trained
    best = str(run_dir / "best.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip file")
    assert "corrupt.npz" in error_of(["sample", str(corrupt)])
    assert "no such checkpoint" in error_of(["sample", str(tmp_path / "none.npz")])
    assert "never saw: 'Z'" in error_of(["sample", best, "--prime", "Zebra"])
    assert "--length" in error_of(["sample", best, "--length", "0"])
    assert "--temperature" in error_of(["sample", best, "--temperature", "0"])
    assert "--temperature" in error_of(["sample", best, "--temperature", "-1"])
    assert "--beam" in error_of(["sample", best, "--beam", "0"])
    monkeypatch.chdir(tmp_path)
    assert "no checkpoint named" in error_of(["sample"])
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("\u00e9t\u00e9 \u00e0 Paris\n" * 10)
    assert "never saw" in error_of(["eval", best, str(foreign)])
    one = tmp_path / "one.txt"
    one.write_text("F")
    assert "at least 2 characters" in error_of(["eval", best, str(one)])


def test_corpus_stdlib(tmp_path):
    out = tmp_path / "py.txt"
    result = run(["corpus", "stdlib", "--out", str(out), "--size", "200000"])
    assert result.exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert 150_000 < len(text.encode()) <= 200_000 and "def " in text


def test_corpus_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = json.loads(run(["corpus", "--list", "--json"]).stdout)
    assert [r["name"] for r in listed] == ["tinyshakespeare", "warpeace", "stdlib", "c"]
    text = run(["corpus", "--list"]).stdout
    assert "warpeace" in text and "3,196,228" in text
    headers = tmp_path / "include"
    (headers / "sys").mkdir(parents=True)
    (headers / "a.h").write_text("#define A 1\nint a(void);\n")
    (headers / "sys" / "b.h").write_text("struct b { int x; };\n")
    result = run(["corpus", "c", "--source", str(headers), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    written = (tmp_path / "corpora" / "c.txt").read_text()
    assert report["path"] == os.path.join("corpora", "c.txt") and "#define A 1" in written
    assert "struct b" in written and report["characters"] == len(written)
    assert "wrote corpora/c.txt" in result.stderr
    # a mirror that serves something else: refused, nothing written, no temporary file
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not war and peace")
    result = run(["corpus", "warpeace", "--url", wrong.as_uri()])
    assert result.exit_code == 1 and "SHA-256" in result.output and "Traceback" not in result.output
    assert sorted(os.listdir(tmp_path / "corpora")) == ["c.txt"]
    for args, message in [
        (["corpus"], "--list"),
        (["corpus", "nope"], "nope"),
        (["corpus", "stdlib", "--url", wrong.as_uri()], "--url"),
        (["corpus", "c", "--source", str(tmp_path / "corpora")], "libc6-dev"),
    ]:
        result = run(args)
        assert result.exit_code in (1, 2) and message in result.output, (args, result.output)


def test_python_dash_m(corpus_file):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "charrnn", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "train" in result.stdout


def test_huge_vocabulary_trains_and_samples(tmp_path):
    rng = np.random.default_rng(0)
    chars = [chr(0x4E00 + i) for i in range(20_000)]
    text = "".join(chars) + "".join(rng.choice(chars, 20_000)) + "\n"
    corpus = tmp_path / "cjk.txt"
    corpus.write_text(text, encoding="utf-8")
    result = run(
        [
            "train",
            str(corpus),
            "--hidden",
            "8",
            "--layers",
            "1",
            "--batch-size",
            "4",
            "--seq-length",
            "8",
            "--max-steps",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert result.exit_code == 0, result.output
    ckpt = load(str(tmp_path / "r" / "best.npz"))
    assert ckpt.model.vocab_size == 20_001
    result = run(
        [
            "sample",
            str(tmp_path / "r" / "best.npz"),
            "--length",
            "20",
            "--seed",
            "0",
            "--prime",
            chars[7] + chars[19_999],
        ]
    )
    assert result.exit_code == 0 and len(result.stdout) == 23


def test_unwritable_out_and_full_disk(tmp_path, corpus_file, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "cannot write checkpoints" in error_of(
        ["train", str(corpus_file), "--out", str(blocker / "sub")]
    )
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    assert "MB free" in error_of(["train", str(corpus_file), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o" / "last.npz").exists()


def test_divergence_stops_with_the_step_and_keeps_checkpoints(tmp_path, corpus_file):
    out = tmp_path / "run"
    message = error_of(
        [
            "train",
            str(corpus_file),
            "--out",
            str(out),
            "--lr",
            "1e9",
            "--grad-clip",
            "0",
            "--max-steps",
            "200",
            "--eval-every",
            "1",
        ]
        + TINY_ARGS[:8]
    )
    assert "diverged at step" in message
    step = int(message.split("diverged at step ")[1].split()[0])
    assert load(str(out / "last.npz")).step == step - 1
    load(str(out / "best.npz"))


def test_sample_from_a_directory(tmp_path, trained):
    run_dir, _ = trained
    result = run(["sample", str(run_dir), "--length", "10"])
    assert result.exit_code == 0 and "best.npz" in result.stderr
    (tmp_path / "empty").mkdir()
    assert "no checkpoint named" in error_of(["sample", str(tmp_path / "empty")])
