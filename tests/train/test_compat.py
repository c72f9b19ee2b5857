"""Version-1 checkpoints (charrnn 1.0, tests/fixtures/v1) still load, sample,
evaluate and resume, as LSTMs, giving what charrnn 1.0 gave."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn.checkpoint import FORMAT_VERSION, load
from charrnn.cli import main

FIXTURE = Path(__file__).parent.parent / "fixtures" / "v1"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_version_1_file_loads_as_an_lstm():
    with np.load(FIXTURE / "run" / "best.npz") as f:
        assert int(f["format_version"]) == 1 and "state_h" in f.files  # truly the old format
    ckpt = load(str(FIXTURE / "run" / "last.npz"))
    assert ckpt.model.cell == "lstm" and ckpt.train_config["cell"] == "lstm"
    assert ckpt.state.shape == (2, 2, 4, 16)  # (layers, (h, c), batch, hidden)
    assert np.isnan(ckpt.val_seconds).all() and len(ckpt.val_seconds) == len(ckpt.val_history)
    assert ckpt.charrnn_version == "1.0"


def test_sample_and_eval_give_what_1_0_gave():
    best = FIXTURE / "run" / "best.npz"
    report = json.loads(run("eval", best, FIXTURE / "play.txt", "--json"))
    assert report["loss"] == pytest.approx(EXPECTED["eval"], rel=1e-6)
    assert (
        run("sample", best, "--length", 80, "--seed", 3, "--temperature", 0.7)
        == EXPECTED["sample_seed3"]
    )
    assert run("sample", best, "--greedy", "--length", 80, "--prime", "First") == EXPECTED["greedy"]
    assert run("sample", best, "--beam", 5, "--length", 60, "--prime", "All") == EXPECTED["beam"]


def test_resume_continues_as_1_0_did_and_writes_version_2(tmp_path):
    shutil.copytree(FIXTURE / "run", tmp_path / "run")
    run(
        "train",
        FIXTURE / "play.txt",
        "--out",
        tmp_path / "run",
        "--resume",
        "--max-steps",
        45,
        "--quiet",
    )
    ckpt = load(str(tmp_path / "run" / "last.npz"))
    np.testing.assert_allclose(ckpt.val_history, EXPECTED["resumed_val_history"], rtol=1e-6)
    with np.load(tmp_path / "run" / "last.npz") as f:
        assert int(f["format_version"]) == FORMAT_VERSION == 2
    # the rows from before have no times; the new one has
    assert np.isnan(ckpt.val_seconds[:2]).all() and ckpt.val_seconds[2] > 0
    assert ckpt.val_chars[2] == ckpt.chars == 15 * 4 * 16
