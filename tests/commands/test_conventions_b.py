"""Conventions every command shares (issue 29): epochs counted one way, info's
command line trains the run again, runs shows the options in which runs
differ, install hints fit the installation, a line before a compile, plot
axes in readable units."""

import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numba
import numpy as np
import pytest

from charrnn import compile_notice
from charrnn.checkpoint import load
from charrnn.cli import main
from charrnn.commands.options import Seconds, given_options
from charrnn.config import config_of, option_fields
from charrnn.defaults import default_lr
from charrnn.extras import install_command
from charrnn.plot import Curves, x_ticks
from command_helpers import SMALL, TINY, ok

ROOT = Path(__file__).resolve().parents[2]
V1 = ROOT / "tests" / "fixtures" / "v1" / "run" / "best.npz"
# Options that differ from every default, a flag among them.
UNUSUAL = ["--variational", "--keep", "all", "--eval-every", "30s", "--weight-decay", "0.01"]
UNUSUAL += ["--dropout", "0.25", "--reset-rate", "0.05", "--schedule", "constant"]
UNUSUAL += ["--max-time", "1h30m", "--lr", "0.0037", "--precision", "float32", "--epochs", "7"]


@pytest.fixture(scope="module")
def unusual_run(tmp_path_factory, corpus_file):
    out = tmp_path_factory.mktemp("unusual") / "run"
    ok(["train", corpus_file, "--out", out, "--max-steps", 3] + TINY + UNUSUAL)
    return out / "last.npz"


def hundredths(ckpt):
    """The epochs a checkpoint has completed, two places, cut (14.00 only when done)."""
    per_epoch = ckpt.train_config["steps_per_epoch"]
    return math.floor(100 * ckpt.step / per_epoch + 1e-9) / 100


# -- epochs: one count everywhere ---------------------------------------------------


def test_epochs_are_counted_one_way_in_info_and_runs(trained, tmp_path):
    run_dir, _ = trained
    ckpt = load(str(run_dir / "last.npz"))
    epochs = hundredths(ckpt)
    assert ckpt.batch_index and epochs != round(epochs)  # within an epoch: a fraction shows
    facts = json.loads(ok(["info", run_dir / "last.npz", "--json"]).stdout)
    assert facts["position"]["epochs"] == epochs and "epoch" not in facts["position"]
    assert f"step 30, {epochs:.2f} epochs," in ok(["info", run_dir / "last.npz"]).stdout
    shutil.copytree(run_dir, tmp_path / "a")
    (row,) = json.loads(ok(["runs", tmp_path, "--json"]).stdout)
    assert row["epochs"] == epochs
    header, line = ok(["runs", tmp_path]).stdout.splitlines()[:2]
    assert line.split()[header.split().index("epochs")] == f"{epochs:.2f}"


def test_train_counts_epochs_the_same_way(tmp_path, corpus_file):
    args = ["train", corpus_file, "--out", tmp_path / "r", "--max-steps", 7, "--eval-every", 5]
    result = ok(args + ["--hidden", "16", "--json"] + SMALL)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    ckpt = load(str(tmp_path / "r" / "last.npz"))
    per_epoch = ckpt.train_config["steps_per_epoch"]
    assert [e["epoch"] for e in events[:-1]] == [
        math.floor(100 * s / per_epoch) / 100 for s in (5, 7)
    ]
    assert events[-1]["epochs"] == hundredths(ckpt)
    assert f"trained to step 7 ({hundredths(ckpt):.2f} epochs)" in result.stderr
    assert f"epochs {hundredths(ckpt):.2f} loss" in result.stderr  # the progress bar's last


# -- info: a command line that trains the run again -----------------------------------


def parsed_config(line):
    """The TrainConfig that ``charrnn train`` builds from the command line ``line``,
    parsed by the real command; its CORPUS."""
    words = shlex.split(line)
    assert words[:2] == ["charrnn", "train"]
    # CORPUS must exist; a v1 run's may not be where it was trained
    ctx = main.commands["train"].make_context("train", [str(V1)] + words[3:])
    options = {k: v for k, v in ctx.params.items() if k not in ("corpus", "out", "resume")}
    given = given_options(ctx, options)
    for name in ("force", "as_json", "quiet"):
        assert not given.pop(name, False)
    if isinstance(given.get("eval_every"), Seconds):
        given["eval_seconds"] = float(given.pop("eval_every"))
    return config_of(given), words[2]


def train_again_line(path):
    lines = [line for line in ok(["info", path]).stdout.splitlines() if "charrnn train" in line]
    assert len(lines) == 1
    return lines[0].split(maxsplit=2)[2]  # after "train again"


@pytest.mark.parametrize("which", ["unusual", "defaults"])
def test_info_prints_a_command_line_that_trains_the_run_again(which, unusual_run, trained):
    path = unusual_run if which == "unusual" else trained[0] / "last.npz"
    ckpt = load(str(path))
    saved = ckpt.train_config
    cfg, corpus = parsed_config(train_again_line(path))
    assert corpus == saved["corpus"]
    for f in option_fields():
        wanted = saved[f.name]
        if f.name == "lr" and wanted is None:  # the default: the schedule's peak
            wanted = json.loads(ckpt.schedule)["peak_lr"]
        assert getattr(cfg, f.name) == wanted, f.name
    assert cfg.eval_seconds == saved["eval_seconds"]
    if which == "unusual":
        assert cfg.variational and cfg.eval_seconds == 30 and cfg.max_time == 5400


def test_info_reports_the_peak_learning_rate(trained):
    run_dir, _ = trained
    ckpt = load(str(run_dir / "best.npz"))
    assert ckpt.train_config["lr"] is None  # left to the cell's default
    facts = json.loads(ok(["info", run_dir / "best.npz", "--json"]).stdout)
    assert (
        facts["training"]["lr"]
        == default_lr("adam", "lstm")
        == json.loads(ckpt.schedule)["peak_lr"]
    )


def test_a_version_1_run_again_as_it_trained():
    """charrnn 1.0's runs had no --reset-rate (0) or --schedule (decay)."""
    cfg, _ = parsed_config(train_again_line(V1))
    saved = load(str(V1)).train_config
    assert (cfg.reset_rate, cfg.schedule, cfg.precision) == (0.0, "decay", "float32")
    assert (cfg.hidden, cfg.lr_decay, saved["lr"]) == (saved["hidden"], saved["lr_decay"], None)
    assert cfg.lr == 0.002  # charrnn 1.0's default, which it saved as the rate of epoch 0


# -- runs: the options in which the runs differ --------------------------------------------


def test_runs_shows_the_options_in_which_runs_differ(tmp_path, corpus_file):
    base = ["train", corpus_file, "--max-steps", 2, "--eval-every", 2] + TINY
    ok(base + ["--out", tmp_path / "a", "--lr", "0.002", "--dropout", "0"])
    ok(base + ["--out", tmp_path / "b", "--lr", "0.004", "--dropout", "0.2"])
    rows = json.loads(ok(["runs", tmp_path, "--json", "--sort", "name"]).stdout)
    assert [r["options"] for r in rows] == [
        {"lr": 0.002, "dropout": 0.0},
        {"lr": 0.004, "dropout": 0.2},
    ]
    lines = ok(["runs", tmp_path, "--sort", "name"]).stdout.splitlines()
    header = lines[0].split()
    assert "--lr" in header and "--dropout" in header
    for line, (lr, dropout) in zip(lines[1:], (("0.002", "0.0"), ("0.004", "0.2"))):
        words = line.split()
        assert words[header.index("--lr")] == lr
        assert words[header.index("--dropout")] == dropout
    (one,) = json.loads(ok(["runs", tmp_path / "a", "--json"]).stdout)
    assert one["options"] == {} and "--lr" not in ok(["runs", tmp_path / "a"]).stdout


# -- install hints fit the installation ------------------------------------------------------


def fake_installation(root, direct_url):
    """A charrnn distribution's metadata in ``root``, as pip writes it."""
    info = root / "charrnn-9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: charrnn\nVersion: 9.9\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    return root


@pytest.mark.parametrize(
    "direct_url,hint",
    [
        (None, "pip install 'charrnn[plot]'"),
        (
            {"url": "file:///home/me/src/char%20rnn", "dir_info": {"editable": True}},
            "pip install -e '/home/me/src/char rnn[plot]'",
        ),
        ({"url": "file:///opt/charrnn", "dir_info": {}}, "pip install '/opt/charrnn[plot]'"),
        (
            {"url": "https://example.org/charrnn-1.1.tar.gz", "archive_info": {}},
            "pip install 'charrnn[plot]'",
        ),
    ],
)
def test_install_hints_fit_how_charrnn_was_installed(
    tmp_path, monkeypatch, trained, direct_url, hint
):
    monkeypatch.syspath_prepend(str(fake_installation(tmp_path / "site", direct_url)))
    monkeypatch.setitem(sys.modules, "plotext", None)  # as if the extra were not installed
    result = main_result(["plot", str(trained[0])])
    assert result.exit_code == 1 and result.stderr.strip().endswith(hint)
    assert install_command("plot") == hint


def test_a_checkouts_own_egg_info_first_on_the_path_does_not_hide_how_pip_installed_it(
    tmp_path, monkeypatch
):
    # CI runs the tests from the checkout: its charrnn.egg-info comes first on sys.path
    editable = {"url": "file:///home/me/charrnn", "dir_info": {"editable": True}}
    monkeypatch.syspath_prepend(str(fake_installation(tmp_path / "site", editable)))
    egg_info = tmp_path / "checkout" / "charrnn.egg-info"
    egg_info.mkdir(parents=True)
    (egg_info / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: charrnn\nVersion: 9.9\n")
    monkeypatch.syspath_prepend(str(tmp_path / "checkout"))
    assert install_command("plot") == "pip install -e '/home/me/charrnn[plot]'"


def main_result(args):
    from click.testing import CliRunner

    return CliRunner().invoke(main, args)


# -- a line before a compile -----------------------------------------------------------------


def test_a_compile_is_told_before_it_starts_and_only_to_who_listens():
    heard, run_log = [], []

    def fresh():  # a kernel of its own: Numba compiles it at its first call
        return numba.njit(lambda x: x + 1)

    compile_notice.tell(heard.append, "sample")
    with compile_notice.told_to(run_log.append, "train"):  # a training run's log (--quiet)
        fresh()(1)
    assert run_log == [compile_notice.message(compile_notice.FIRST_COMPILE_SECONDS["train"])]
    assert heard == []
    fresh()(1)  # the same wait as far as the command is concerned: said once
    assert heard == []
    compile_notice.tell(heard.append, "sample")  # the next command
    fresh()(2)
    assert heard == [compile_notice.message(compile_notice.FIRST_COMPILE_SECONDS["sample"])]
    compile_notice.tell(None, None)


def charrnn_stderr_until(args, wanted, env, timeout=180):
    """stderr of ``python -m charrnn args`` up to the first line holding ``wanted``
    (the process then killed) or to its end; its exit code (None: killed)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "charrnn", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines = []
    try:
        for line in process.stderr:
            lines.append(line)
            if wanted in line:
                process.kill()
                process.wait()
                return lines, None
        return lines, process.wait()
    finally:
        timer.cancel()
        process.kill()
        process.wait()


def environment(**more):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **more)
    return env


@pytest.mark.parametrize("command", ["sample", "train", "sweep"])
def test_a_cold_cache_is_told_before_the_compile(command, tmp_path, trained, corpus_file):
    """Numba's cache an empty directory: a line before the wait, with its figure
    (a sweep's: before its trials, which compile)."""
    if command == "sweep":
        pytest.importorskip("optuna", reason="the sweep extra is not installed")
    args = {
        "sample": ["sample", trained[0] / "best.npz", "-n", 5, "--json"],
        "train": ["train", corpus_file, "--out", tmp_path / "run", "--json", "--hidden", 16]
        + SMALL,
        "sweep": ["sweep", corpus_file, "--out", tmp_path / "sweep", "--param", "hidden=8,16"]
        + ["--trials", 1, "--trial-steps", 2, "--reports", 1, "--json"],
    }[command]
    (tmp_path / "cache").mkdir()
    env = environment(NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CHARRNN_NUMBA_CACHE_BASE", None)
    lines, code = charrnn_stderr_until(args, "the first compile after installing took", env)
    assert code is None, "".join(lines)  # the line came, the compile still running
    seconds = compile_notice.FIRST_COMPILE_SECONDS[command]
    assert lines[-1].strip() == compile_notice.message(seconds)


def test_a_warm_cache_says_nothing_of_compiling(trained):
    ok(["sample", trained[0] / "best.npz", "-n", 5, "--seed", 1])  # in this cache, now
    lines, code = charrnn_stderr_until(
        ["sample", trained[0] / "best.npz", "-n", 5, "--seed", 1], "compiling", environment()
    )
    assert code == 0 and not lines


# -- plot axes in readable units -----------------------------------------------------------------


def curves(xs):
    xs = np.asarray(xs, np.float64)
    return Curves("run", (xs, np.ones_like(xs)), (xs[-1:], np.ones(1)))


@pytest.mark.parametrize(
    "axis,xs,labels",
    [
        ("chars", [317962.5, 628425.0, 1249350.0], ["400k", "600k", "800k", "1M", "1.2M"]),
        ("chars", [1000, 2_600_000_000], ["500M", "1G", "1.5G", "2G", "2.5G"]),
        ("step", [1, 12_000], ["2k", "4k", "6k", "8k", "10k", "12k"]),
        ("step", [1, 30], ["5", "10", "15", "20", "25", "30"]),
        ("time", [3.2, 5400.0], ["15m", "30m", "45m", "1h", "1h15m", "1h30m"]),
        ("time", [0.4, 95.0], ["15s", "30s", "45s", "1m", "1m15s", "1m30s"]),
        ("time", [10.0, 30000.0], ["2h", "4h", "6h", "8h"]),
        ("time", [0.01, 0.5], ["0.1s", "0.2s", "0.3s", "0.4s", "0.5s"]),
    ],
)
def test_plot_axes_in_readable_units(axis, xs, labels):
    positions, found = x_ticks([curves(xs)], axis)
    assert found == labels
    assert min(xs) <= positions[0] and positions[-1] <= max(xs)


def test_plot_labels_its_axis_in_those_units(trained):
    pytest.importorskip("plotext", reason="the plot extra is not installed")
    run_dir, _ = trained
    text = ok(["plot", run_dir, "--x", "chars", "--width", "80", "--height", "20"]).stdout
    lines = text.splitlines()
    named = next(i for i, line in enumerate(lines) if "characters seen" in line)
    ticks = lines[named - 1].split()  # the x axis's labels, above its name
    assert ticks == ["500", "1k", "1.5k"]  # 64 characters a step, 30 steps
