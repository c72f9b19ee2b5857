"""``charrnn plot``: loss curves of real runs in the terminal (plotext) and as a
PNG (matplotlib), against steps, characters and time; the missing extra."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from charrnn.cli import main
from charrnn.extras import install_command

pytest.importorskip("plotext", reason="the plot extra is not installed")
pytest.importorskip("matplotlib", reason="the plot extra is not installed")

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1" / "run"
TINY = [
    "--layers",
    "1",
    "--batch-size",
    "4",
    "--seq-length",
    "16",
    "--quiet",
    "--eval-every",
    "10",
    "--max-steps",
    "40",
]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, corpus_file):
    root = tmp_path_factory.mktemp("plot")
    for hidden in (16, 24):
        result = CliRunner().invoke(
            main,
            ["train", str(corpus_file), "--hidden", str(hidden), "--out", str(root / f"h{hidden}")]
            + TINY,
        )
        assert result.exit_code == 0, result.output
    return root / "h16", root / "h24"


def plot(args):
    return CliRunner().invoke(main, ["plot"] + [str(a) for a in args])


@pytest.mark.parametrize(
    "axis,label", [("step", "step"), ("chars", "characters seen"), ("time", "training time")]
)
def test_terminal_plot_of_two_runs(two_runs, axis, label):
    result = plot(list(two_runs) + ["--x", axis, "--width", "90", "--height", "24"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for name in ("h16 train", "h16 val", "h24 train", "h24 val"):
        assert name in text
    assert label in text and "loss" in text
    assert len(text.splitlines()) >= 20 and "\x1b[" not in text  # no colours into a pipe


def test_a_checkpoint_file_plots_too(two_runs):
    result = plot([two_runs[0] / "best.npz", "--width", "60", "--height", "15"])
    assert result.exit_code == 0 and "h16/best train" in result.stdout


def test_png(two_runs, tmp_path):
    import matplotlib.image

    out = tmp_path / "losses.png"
    result = plot(list(two_runs) + ["--png", out, "--x", "chars"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(str(out))
    assert pixels.shape[:2] == (500, 800)
    colours = {tuple(p) for p in pixels.reshape(-1, pixels.shape[2])[::97]}
    assert len(colours) > 20  # curves, legend and text drawn, not a blank page


def test_version_1_runs_plot_against_steps_only():
    assert plot([V1, "--width", "60", "--height", "15"]).exit_code == 0
    result = plot([V1, "--x", "time"])
    assert result.exit_code == 1 and "--x step" in result.output


def test_without_the_extra_it_says_which_to_install(two_runs, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "plotext", None)
    result = plot([two_runs[0]])
    assert result.exit_code == 1 and install_command("plot") in result.output
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = plot([two_runs[0], "--png", tmp_path / "x.png"])
    assert result.exit_code == 1 and install_command("plot") in result.output
    assert not (tmp_path / "x.png").exists()


def test_bad_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    result = plot([tmp_path / "empty"])
    assert result.exit_code == 1 and "no last.npz or best.npz" in result.output
    assert plot([tmp_path / "missing"]).exit_code == 2
