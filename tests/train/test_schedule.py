"""The learning-rate schedule: its values at given points of the budget, in
training as in the formula; exact resume across it for step, character and
epoch budgets; --max-time as the run's total over resumes."""

import json
import math
import signal
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn import schedule as schedules
from charrnn.checkpoint import load
from charrnn.cli import main

ARGS = [
    "--hidden",
    "16",
    "--layers",
    "2",
    "--batch-size",
    "4",
    "--seq-length",
    "16",
    "--quiet",
    "--seed",
    "3",
    "--dropout",
    "0.2",
    "--val-frac",
    "0.1",
    "--keep",
    "0",
]
PEAK = 6e-3  # the default peak: Adam with the LSTM


def cosine_by_hand(done, peak=PEAK):
    """The budget schedule written out: 2% warm-up from 5% of the peak, then a
    half cosine down to 5% at the end."""
    if done < 0.02:
        return peak * (0.05 + 0.95 * done / 0.02)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (done - 0.02) / 0.98)))


def train(corpus, out, *extra):
    result = CliRunner().invoke(
        main, ["train", str(corpus), "--out", str(out)] + ARGS + list(extra)
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    "done,cosine,linear",
    [
        (0.0, 0.05, 0.05),
        (0.01, 0.525, 0.525),
        (0.02, 1.0, 1.0),
        (0.51, 0.525, 0.525),
        (0.265, 0.05 + 0.95 * (0.5 + 0.5 * math.cos(math.pi / 4)), 0.7625),
        (1.0, 0.05, 0.05),
    ],
)
def test_budget_factor_at_given_points(done, cosine, linear):
    assert schedules.budget_factor("cosine", done) == pytest.approx(cosine, abs=1e-12)
    assert schedules.budget_factor("linear", done) == pytest.approx(linear, abs=1e-12)


def test_budget_falls_all_the_way_after_the_warm_up():
    points = np.linspace(0.02, 1.0, 200)
    for shape in ("cosine", "linear"):
        factors = [schedules.budget_factor(shape, d) for d in points]
        assert all(a > b for a, b in zip(factors, factors[1:]))


def test_which_schedule_a_run_gets():
    assert schedules.resolve(None, 1.0) == schedules.BUDGET_SHAPE == "cosine"
    assert schedules.resolve("budget", 1.0) == "cosine"
    assert schedules.resolve(None, 0.9) == "decay"  # charrnn 1.0's recipes keep their meaning
    assert schedules.resolve(None, 1.0, resumed_without_schedule=True) == "decay"
    assert schedules.resolve("constant", 1.0) == "constant"


def test_position_is_whichever_budget_ends_first():
    assert schedules.position(10, 40) == 0.25
    assert schedules.position(10, 40, seconds=30.0, max_seconds=60.0) == 0.5
    assert schedules.position(30, 40, seconds=30.0, max_seconds=60.0) == 0.75
    assert schedules.position(50, 40, seconds=90.0, max_seconds=60.0) == 1.0


@pytest.mark.parametrize(
    "budget,total",
    [
        (["--max-steps", "40"], 40),
        (["--max-chars", str(40 * 4 * 16 - 10)], 40),  # rounded up to whole steps
        (["--epochs", "2"], None),
    ],
)  # of the corpus's steps per epoch
def test_training_follows_the_schedule_of_its_budget(tmp_path, corpus_file, budget, total):
    events = train(corpus_file, tmp_path, "--eval-every", "1", "--json", *budget)
    steps = [e for e in events if e["event"] == "validation"]
    if total is None:
        total = 2 * load(str(tmp_path / "last.npz")).train_config["steps_per_epoch"]
    assert [e["step"] for e in steps] == list(range(1, total + 1))
    for e in steps:  # the rate of step s was set at (s - 1) / total of the budget
        assert e["lr"] == pytest.approx(cosine_by_hand((e["step"] - 1) / total), rel=1e-12)
    assert steps[-1]["lr"] < 0.052 * PEAK  # 5% of the peak at the very end
    ckpt = load(str(tmp_path / "last.npz"))
    assert ckpt.train_config["schedule"] == "cosine"
    assert json.loads(ckpt.schedule) == {"name": "cosine", "peak_lr": PEAK, "done": 1.0}


@pytest.mark.parametrize(
    "cell,peak", [("gru", 4e-3), ("rnn", 2e-3), ("mut1", 4e-3), ("mut2", 4e-3), ("mut3", 8e-3)]
)
def test_each_cell_trains_from_its_measured_peak(tmp_path, corpus_file, cell, peak):
    events = train(
        corpus_file,
        tmp_path,
        "--cell",
        cell,
        "--max-steps",
        "4",
        "--json",
        "--schedule",
        "constant",
    )
    assert [e["lr"] for e in events if e["event"] == "validation"] == [peak]
    assert json.loads(load(str(tmp_path / "last.npz")).schedule)["peak_lr"] == peak
    # an explicit --lr, or another optimizer, is not touched
    events = train(
        corpus_file,
        tmp_path / "own",
        "--cell",
        cell,
        "--max-steps",
        "4",
        "--json",
        "--schedule",
        "constant",
        "--lr",
        "0.003",
    )
    assert [e["lr"] for e in events if e["event"] == "validation"] == [0.003]
    events = train(
        corpus_file,
        tmp_path / "rmsprop",
        "--cell",
        cell,
        "--max-steps",
        "4",
        "--json",
        "--schedule",
        "constant",
        "--optimizer",
        "rmsprop",
    )
    assert [e["lr"] for e in events if e["event"] == "validation"] == [2e-3]


@pytest.mark.parametrize("cell,dropout", [("lstm", 0.1), ("gru", 0.2), ("mut2", 0.1)])
def test_each_cell_drops_out_at_its_measured_rate(tmp_path, corpus_file, cell, dropout):
    args = [a for a in ARGS if a not in ("--dropout", "0.2")]

    def run(out, *extra):
        result = CliRunner().invoke(
            main,
            [
                "train",
                str(corpus_file),
                "--out",
                str(tmp_path / out),
                "--cell",
                cell,
                *args,
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output
        return load(str(tmp_path / out / "last.npz"))

    ckpt = run("default", "--max-steps", "2")
    assert ckpt.model.dropout == ckpt.train_config["dropout"] == dropout
    assert run("own", "--max-steps", "2", "--dropout", "0.05").model.dropout == 0.05
    # a resume without --dropout continues with the run's, not the cell's default
    resumed = run("own", "--resume", "--max-steps", "3")
    assert (resumed.step, resumed.model.dropout) == (3, 0.05)


def test_linear_constant_and_per_epoch_decay(tmp_path, corpus_file):
    linear = train(
        corpus_file,
        tmp_path / "linear",
        "--max-steps",
        "20",
        "--eval-every",
        "5",
        "--json",
        "--schedule",
        "linear",
        "--lr",
        "0.01",
    )
    assert [e["lr"] for e in linear[:-1]] == pytest.approx(
        [0.01 * (1 - 0.95 * ((s - 1) / 20 - 0.02) / 0.98) for s in (5, 10, 15, 20)]
    )
    constant = train(
        corpus_file,
        tmp_path / "constant",
        "--max-steps",
        "20",
        "--eval-every",
        "5",
        "--json",
        "--schedule",
        "constant",
    )
    assert [e["lr"] for e in constant[:-1]] == [PEAK] * 4
    # --lr-decay alone: times 0.5 after every epoch, whatever the budget
    decay = train(
        corpus_file,
        tmp_path / "decay",
        "--max-steps",
        "40",
        "--eval-every",
        "1",
        "--json",
        "--lr-decay",
        "0.5",
    )
    per_epoch = load(str(tmp_path / "decay" / "last.npz")).train_config["steps_per_epoch"]
    for e in decay[:-1]:
        assert e["lr"] == PEAK * 0.5 ** ((e["step"] - 1) // per_epoch)


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--schedule", "cosine", "--lr-decay", "0.9"],
            "--lr-decay is a factor of --schedule decay",
        ),
        (
            ["--schedule", "budget", "--lr-decay", "0.9"],
            "--lr-decay is a factor of --schedule decay",
        ),
        (["--schedule", "steep"], "'steep' is not one of"),
    ],
)
def test_bad_schedules_are_refused(tmp_path, corpus_file, args, message):
    result = CliRunner().invoke(
        main, ["train", str(corpus_file), "--out", str(tmp_path)] + ARGS + args
    )
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "last.npz").exists()


def run_then_stop(corpus, out, budget):
    """A training process stopped by SIGTERM after its first checkpoint, well
    before the end of its budget."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charrnn",
            "train",
            str(corpus),
            "--out",
            str(out),
            "--hidden",
            "48",
            "--eval-every",
            "5",
            "--json",
        ]
        + ARGS[2:]
        + budget,
        stdout=subprocess.PIPE,
        text=True,
    )
    first = json.loads(process.stdout.readline())
    assert first["event"] == "validation"
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == 143
    return load(str(out / "last.npz")).step


@pytest.mark.parametrize(
    "budget", [["--max-steps", "600"], ["--max-chars", "38000"], ["--epochs", "40"]]
)
def test_a_run_stopped_and_resumed_equals_one_in_one_go(tmp_path, corpus_file, budget):
    stopped_at = run_then_stop(corpus_file, tmp_path / "resumed", budget)
    train(corpus_file, tmp_path / "resumed", "--resume", "--hidden", "48", *budget)
    train(corpus_file, tmp_path / "straight", "--hidden", "48", "--eval-every", "5", *budget)
    resumed, straight = (
        load(str(tmp_path / name / "last.npz")) for name in ("resumed", "straight")
    )
    assert 5 <= stopped_at < straight.step - 100  # stopped well within the schedule
    np.testing.assert_array_equal(resumed.params, straight.params)
    for key in straight.optimizer_state:
        np.testing.assert_array_equal(resumed.optimizer_state[key], straight.optimizer_state[key])
    np.testing.assert_array_equal(resumed.train_history, straight.train_history)
    assert (resumed.step, resumed.lr, resumed.schedule) == (
        straight.step,
        straight.lr,
        straight.schedule,
    )


def test_max_time_is_the_runs_total_and_the_schedule_follows_the_clock(tmp_path, corpus_file):
    first = train(
        corpus_file,
        tmp_path,
        "--max-time",
        "2s",
        "--eval-every",
        "0.25s",
        "--json",
        "--epochs",
        "100000",
    )
    assert first[-1]["stopped"] == "time" and 2.0 <= first[-1]["train_seconds"] < 2.5
    result = CliRunner().invoke(
        main, ["train", str(corpus_file), "--out", str(tmp_path), "--resume", "--quiet"]
    )
    assert result.exit_code == 1 and "already reaches --max-time 2 s" in result.output
    more = train(
        corpus_file, tmp_path, "--resume", "--max-time", "4s", "--eval-every", "0.25s", "--json"
    )
    assert more[-1]["stopped"] == "time" and 4.0 <= more[-1]["train_seconds"] < 4.5
    # each rate was set by the clock when the step before ended (its history row)
    last = load(str(tmp_path / "last.npz"))
    ended = {0: 0.0, **dict(zip(last.train_history[:, 0].astype(int), last.train_seconds))}
    for e in first[:-1]:
        done = ended[e["step"] - 1] / 2.0
        assert e["lr"] == pytest.approx(cosine_by_hand(done), abs=0.01 * PEAK)
    for e in more[:-1]:  # the budget raised to 4 s: the schedule's position is of 4 s
        done = ended[e["step"] - 1] / 4.0
        assert e["lr"] == pytest.approx(cosine_by_hand(done), abs=0.01 * PEAK)
    assert more[-2]["lr"] < 0.07 * PEAK
