"""bench/run.py's training contenders: charrnn in float32 and bfloat16 (AMX),
PyTorch in float32 and bfloat16 autocast.  Which runs a round makes, what a
worker returns, and the report's four columns and three ratios, rendered
from a small synthetic raw result (no measurement)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import measure  # noqa: E402
import report  # noqa: E402
from settings import CONFIGS, Options  # noqa: E402

TRAINING = [
    ("charrnn", 2),
    ("charrnn:bfloat16", 2),
    ("torch", 1),
    ("torch", 2),
    ("torch:autocast", 1),
    ("torch:autocast", 2),
]


def options(train_precisions=("float32", "bfloat16"), **fields):
    base = dict(
        cells=("lstm",),
        configs=(CONFIGS["2x128"],),
        tasks=("train",),
        precisions=("float32", "bfloat16", "int8"),
        corpus="/corpora/tiny.txt",
        rounds=2,
        train_precisions=train_precisions,
    )
    return Options(**{**base, **fields})


def test_a_round_trains_four_contenders_and_alternates():
    o = options()
    assert measure.contenders(o, "lstm", 1, "train") == TRAINING
    assert measure.contenders(o, "lstm", 2, "train") == TRAINING[::-1]
    float32_only = options(train_precisions=("float32",))
    assert measure.contenders(float32_only, "lstm", 1, "train") == [
        c for c in TRAINING if c[0] != "charrnn:bfloat16"
    ]
    # a cell without a PyTorch peer: charrnn alone
    assert measure.contenders(o, "no-peer", 1, "train") == TRAINING[:2]


def test_generation_and_the_whole_command_keep_their_contenders():
    o = options()
    torch = [("torch", 1), ("torch", 2)]
    generation = [("charrnn", 2), ("charrnn:bfloat16", 2), ("charrnn:int8", 2)] + torch
    assert measure.contenders(o, "lstm", 1, "sample") == generation
    assert measure.contenders(o, "lstm", 1, "beam") == generation
    assert measure.contenders(o, "lstm", 1, "command") == [("charrnn", 2)] + torch


def test_bfloat16_training_is_left_out_without_amx(monkeypatch):
    monkeypatch.setattr(measure, "charrnn_facts", lambda: {"amx": False})
    assert measure.train_precisions("float32,bfloat16") == ("float32",)
    with pytest.raises(SystemExit):
        measure.train_precisions("bfloat16")
    with pytest.raises(SystemExit):
        measure.train_precisions("float32,int8")  # int8 is for generation only
    monkeypatch.setattr(measure, "charrnn_facts", lambda: {"amx": True})
    assert measure.train_precisions("float32,bfloat16") == ("float32", "bfloat16")


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux /proc")
def test_cpu_flags_are_recorded():
    assert set(measure.cpu_flags()) == set(measure.CPU_FLAGS)


def run(rate, **extra):
    return {
        "chars_per_s": rate,
        "steps": 10,
        "seconds": 1.0,
        "loss": 3.0,
        "rss_before_mb": 100.0,
        "peak_rss_mb": 150.0,
        "flops_per_char": 1e6,
        **extra,
    }


# Two rounds' chars/s per contender.  Medians: charrnn float32 105 (spread
# 110/100 - 1 = 10%), bfloat16 225 (25%); PyTorch float32 95 at 2 threads
# (its better count, 100/90 - 1 = 11.1%), autocast 135 at 1 thread (25%).
RATES = {
    ("charrnn", 2): [100, 110],
    ("charrnn:bfloat16", 2): [200, 250],
    ("torch", 1): [80, 80],
    ("torch", 2): [90, 100],
    ("torch:autocast", 1): [120, 150],
    ("torch:autocast", 2): [100, 100],
}


def synthetic_raw(amx=True):
    """A raw result as bench/measure.py writes it, for one cell and config."""
    precisions = ("float32", "bfloat16") if amx else ("float32",)
    results = [
        {
            "cell": "lstm",
            "config": "2x128",
            "task": "train",
            "impl": impl,
            "threads": threads,
            "runs": [run(r, rnn_dtype="bfloat16", logits_dtype="bfloat16") for r in rates],
        }
        for (impl, threads), rates in RATES.items()
        if amx or impl != "charrnn:bfloat16"
    ]
    environment = {
        "command": "python bench/run.py --tasks train",
        "date": "2026-01-01 00:00 UTC",
        "machine": "a test CPU",
        "python": "3.11",
        "versions": {"numpy": "2", "numba": "0.6", "torch": "2.13.0"},
        "corpus_chars": 1000,
        "vocab_size": 65,
        "val_chars": 100,
        "cpu_flags": {"avx512f": True, "avx512_bf16": amx, "amx_bf16": amx, "amx_tile": amx},
        "amx": amx,
        "auto_training_precision": "bfloat16" if amx else "float32",
        "threads": {"charrnn": 2, "torch": [1, 2]},
    }
    peaks = [{"threads": t, "runs": [{"gflops": 100.0 * t}] * 2} for t in (1, 2)]
    return {
        "options": options(train_precisions=precisions).to_json(),
        "environment": environment,
        "peaks": peaks,
        "results": results,
        "seconds": 12.0,
    }


def table_row(text, start):
    return next(line for line in text.splitlines() if line.startswith(start))


def test_report_sets_the_four_training_contenders_and_their_ratios_side_by_side():
    text = report.render(json.loads(json.dumps(synthetic_raw())))  # as read from the file
    head = table_row(text, "| cell | config | charrnn float32 |")
    for column in (
        "charrnn bfloat16",
        "PyTorch float32",
        "PyTorch autocast",
        "charrnn bf16 / f32",
        "charrnn f32 / PyTorch f32",
        "charrnn default (bfloat16) / PyTorch faster",
    ):
        assert f"| {column} |" in head
    row = table_row(text, "| lstm | 2x128 | 105 ")
    # 225 / 105, 105 / 95, and bfloat16 (the default here) over autocast's 135
    assert row == (
        "| lstm | 2x128 | 105 +10.0% | 225 +25.0% | 95 +11.1% (2t) | 135 +25.0% (1t) "
        "| 2.14 | 1.11 | 1.67 | autocast |"
    )
    assert "avx512f yes, avx512_bf16 yes, amx_bf16 yes, amx_tile yes" in text
    assert "`charrnn train --precision auto` trains in bfloat16" in text
    assert "PyTorch: better of 1 and 2 threads" in text
    assert "not measured" not in text
    assert "PyTorch autocast ran nn.LSTM's output in bfloat16" in text


def test_report_without_amx_says_bfloat16_was_left_out():
    text = report.render(synthetic_raw(amx=False))
    row = table_row(text, "| lstm | 2x128 | 105 ")
    # the default is float32 here: 105 / 135
    assert row == (
        "| lstm | 2x128 | 105 +10.0% | - | 95 +11.1% (2t) | 135 +25.0% (1t) "
        "| - | 1.11 | 0.78 | autocast |"
    )
    assert "charrnn default (float32) / PyTorch faster" in text
    assert "charrnn bfloat16 not measured: this machine has no AMX tiles" in text
    assert "amx_bf16 no, amx_tile no" in text


def test_report_reads_raw_files_from_before_bfloat16_training():
    raw = synthetic_raw(amx=False)
    raw["results"] = [r for r in raw["results"] if r["impl"] != "torch:autocast"]
    for key in ("cpu_flags", "amx", "auto_training_precision", "threads"):
        del raw["environment"][key]
    del raw["options"]["train_precisions"]
    text = report.render(raw)
    row = table_row(text, "| lstm | 2x128 | 105 ")
    assert row.endswith("| - | 95 +11.1% (2t) | - | - | 1.11 | 1.11 | float32 |")
    assert "CPU flags: not recorded" in text
    assert "predates bfloat16 training" in text


def worker(job, corpus, **env):
    """bench/worker.py's JSON line for ``job`` (a tiny 1x8 model, quick options)."""
    o = options(tasks=("train",), corpus=str(corpus), seconds=0.01)
    job = {"cell": "lstm", "config": "1x8", "threads": 1, "options": o.to_json(), **job}
    proc = subprocess.run(
        [sys.executable, str(BENCH / "worker.py"), json.dumps(job)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.startswith("{"), proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_pytorch_trains_under_autocast_in_bfloat16(corpus_file):
    pytest.importorskip("torch")
    result = worker({"task": "train", "impl": "torch:autocast"}, corpus_file)
    assert result["chars_per_s"] > 0 and result["steps"] >= 3
    assert result["rnn_dtype"] == "bfloat16" and result["logits_dtype"] == "bfloat16"
    assert worker({"task": "train", "impl": "torch"}, corpus_file)["rnn_dtype"] == "float32"


def test_charrnn_refuses_bfloat16_training_without_amx(corpus_file):
    result = worker({"task": "train", "impl": "charrnn:bfloat16"}, corpus_file, CHARRNN_AMX="0")
    assert "does not train in bfloat16 on this machine" in result["error"]
