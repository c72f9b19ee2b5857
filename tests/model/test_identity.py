"""Every cell trains, samples, beam-searches and evaluates to the very bits it
did when tests/fixtures/v2 was recorded (charrnn 1.1, commit d2830d4, before
the cells were rebuilt on one recurrence): a refactor changes no number.

Bits depend on the machine's kernels (the tile shape of tiles.py, OpenBLAS's
gemm kernels): expected.json holds one record per kind of machine, made with

    python tests/model/test_identity.py record
    CHARRNN_TILES=avx2 OPENBLAS_CORETYPE=Haswell python tests/model/test_identity.py record

On a kind of machine with no record the check is of the numbers to a
tolerance, and of the texts not at all (a float's last bit can turn a draw).
"""

import ctypes
import glob
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

if __name__ == "__main__":  # recording: tests/ is not on the path then
    sys.path.insert(0, str(Path(__file__).parents[1]))
from texts import TEXT  # noqa: E402

from charrnn.cells import CELLS
from charrnn.checkpoint import load
from charrnn.cli import main
from charrnn.kernels import tiles

FIXTURE = Path(__file__).parents[1] / "fixtures" / "v2"
EXPECTED = FIXTURE / "expected.json"
COMMON = [
    "--layers",
    2,
    "--seq-length",
    16,
    "--seed",
    1,
    "--threads",
    2,
    "--val-frac",
    0.1,
    "--quiet",
    "--precision",  # the fixtures are float32's: bfloat16 differs between machine types
    "float32",
]
# Threads share the recurrence by streams when B >= 2 * threads and W_h is
# small, by hidden units otherwise; the recurrent products use the packed
# tiles when H is a multiple of their panel width (32 floats), else BLAS:
# a run of each of the four.
RUNS = {
    "streams": ["--hidden", 16, "--batch-size", 4, "--max-steps", 12, "--eval-every", 6],
    "units": ["--hidden", 40, "--batch-size", 3, "--max-steps", 6, "--eval-every", 6],
    "tiles-streams": ["--hidden", 32, "--batch-size", 4, "--max-steps", 8, "--eval-every", 8],
    "tiles-units": ["--hidden", 64, "--batch-size", 3, "--max-steps", 4, "--eval-every", 4],
}
SAMPLES = {
    "sample": ["--seed", 3, "--length", 80, "--temperature", 0.8, "--prime", "First"],
    "greedy": ["--greedy", "--length", 40, "--prime", "All"],
    "beam": ["--beam", 3, "--length", 40, "--prime", "All"],
    "top_k": ["--seed", 5, "--length", 60, "--top-k", 4],
    "bfloat16": ["--seed", 3, "--length", 60, "--precision", "bfloat16"],
    "int8": ["--seed", 3, "--length", 60, "--precision", "int8"],
}


def machine():
    """The kind of machine, as far as the bits go: tile shape and gemm kernels."""
    import numpy

    corename = "portable"
    for path in glob.glob(
        os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs", "*openblas*")
    ):
        lib = ctypes.CDLL(path)
        if hasattr(lib, "scipy_openblas_get_corename64_"):
            lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p
            corename = lib.scipy_openblas_get_corename64_().decode().lower()
    # cores that run the same sgemm kernels
    family = {"zen": "haswell", "cooperlake": "skylakex", "sapphirerapids": "skylakex"}
    return f"{tiles.TILES}/{family.get(corename, corename)}"


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def produce(cell, directory):
    """What the fixture commands give for ``cell``, run in ``directory``."""
    corpus = directory / "play.txt"
    corpus.write_text(TEXT * 20, encoding="utf-8")
    out = {}
    for name, options in RUNS.items():
        run_dir = directory / f"{cell}-{name}"
        run("train", corpus, "--cell", cell, "--out", run_dir, *options, *COMMON)
        ckpt = load(str(run_dir / "last.npz"))
        out[name] = {
            "params": sha256(ckpt.params),
            "optimizer_state": sha256(
                np.concatenate([np.ravel(a) for a in ckpt.optimizer_state.values()])
            ),
            "state": sha256(ckpt.state),
            "val_history": ckpt.val_history[:, 1].tolist(),
            "train_history": ckpt.train_history[:, 1].tolist(),
        }
    last = directory / f"{cell}-streams" / "last.npz"
    out["eval"] = json.loads(run("eval", last, corpus, "--json"))["loss"]
    for name, options in SAMPLES.items():
        out[name] = run("sample", last, *options)
    return out, last


def record():
    """Write expected.json's record for this machine, and each cell's last.npz."""
    import tempfile

    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    records = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cell in CELLS:
            records[cell], last = produce(cell, Path(tmp))
            if not (FIXTURE / cell / "last.npz").exists():
                (FIXTURE / cell).mkdir(parents=True, exist_ok=True)
                shutil.copy(last, FIXTURE / cell / "last.npz")
    expected[machine()] = records
    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"recorded {machine()}")


EXPECTED_RECORDS = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
RECORDED = sorted(next(iter(EXPECTED_RECORDS.values()), {}))  # the cells of the records


def test_every_recorded_cell_is_still_registered():
    assert RECORDED and set(RECORDED) <= set(CELLS)


@pytest.mark.parametrize("cell", RECORDED)
def test_training_sampling_and_eval_give_the_recorded_bits(cell, tmp_path):
    if machine() not in EXPECTED_RECORDS:
        pytest.skip(f"no record for {machine()}: test_the_numbers_stay_close checks")
    expected = EXPECTED_RECORDS[machine()][cell]
    got, _ = produce(cell, tmp_path)
    for name in RUNS:  # the loss histories first: they say where it parted
        assert got[name]["train_history"] == expected[name]["train_history"], name
        assert got[name] == expected[name], name
    assert got["eval"] == expected["eval"]
    for name in SAMPLES:
        assert got[name] == expected[name], name


@pytest.mark.parametrize("cell", RECORDED)
def test_the_numbers_stay_close_on_any_machine(cell, tmp_path):
    """Where this kind of machine has no record: the same losses to a tolerance."""
    if machine() in EXPECTED_RECORDS:
        pytest.skip("this machine's record is checked bit for bit")
    expected = next(iter(EXPECTED_RECORDS.values()))[cell]
    got, _ = produce(cell, tmp_path)
    for name in RUNS:
        np.testing.assert_allclose(
            got[name]["train_history"], expected[name]["train_history"], rtol=1e-3
        )
        np.testing.assert_allclose(
            got[name]["val_history"], expected[name]["val_history"], rtol=1e-3
        )
    assert got["eval"] == pytest.approx(expected["eval"], rel=1e-3)


@pytest.mark.parametrize("cell", RECORDED)
def test_the_recorded_version_2_checkpoint_loads_samples_evaluates_and_resumes(cell, tmp_path):
    shutil.copytree(FIXTURE / cell, tmp_path / "run")
    last = tmp_path / "run" / "last.npz"
    with np.load(last) as f:
        assert int(f["format_version"]) == 2
    ckpt = load(str(last))
    assert ckpt.model.cell == cell and ckpt.step == 12
    corpus = tmp_path / "play.txt"
    corpus.write_text(TEXT * 20, encoding="utf-8")
    assert len(run("sample", last, "--seed", 1, "--length", 30)) == 31
    assert json.loads(run("eval", last, corpus, "--json"))["loss"] > 0
    run("train", corpus, "--out", tmp_path / "run", "--resume", "--max-steps", 14)
    assert load(str(last)).step == 14


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit(__doc__)
    record()
