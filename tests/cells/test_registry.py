"""The cells registry is what the tests follow: every registered cell has a
NumPy reference and satisfies the cell protocol, and a new cell added as the
docstring of charrnn/cells says (one module, one line in CELLS, a reference)
gets every per-cell test with nothing else edited."""

import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from reference import STEPS

from charrnn import cells
from charrnn.cells.step import STEP_CLASSES
from charrnn.kernels import cache
from charrnn.kernels.rows import packed
from charrnn.model import ModelConfig, init_params, views

TESTS = Path(__file__).resolve().parents[1]

# The protocol: what model.py, decode.py and the checkpoints ask of a cell module.
PROTOCOL = {
    "layer_shapes": ["l", "V", "H"],
    "init_layer": ["p", "l", "H", "rng"],
    "forward": ["p", "l", "x", "state0", "ws", "blocks", "keep"],
    "replay": ["p", "l", "state0", "hiddens", "with_hiddens", "ws", "blocks"],
    "backward": ["p", "g", "l", "dh", "dstate0", "hiddens", "ws", "blocks"],
    "weight_grads": ["p", "g", "l", "x", "hiddens", "dx", "ws", "blocks"],
    "step_weights": ["p", "l", "V", "H", "pack"],
}


def test_every_registered_cell_has_a_reference():
    missing = sorted(set(cells.CELLS) - set(STEPS))
    assert not missing, f"cells without a NumPy reference in tests/reference.py: {missing}"


@pytest.mark.parametrize("cell", list(cells.CELLS))
def test_every_cell_satisfies_the_protocol(cell, rng):
    module = cells.get(cell)
    assert isinstance(module.STATES, tuple) and module.STATES[0] == "h"
    assert module.SHOWN[0] in module.STATES and (
        module.SHOWN[1] is None or callable(module.SHOWN[1])
    )
    assert module.TORCH is None or isinstance(module.TORCH, cells.TorchModule)
    for name, parameters in PROTOCOL.items():
        function = getattr(module, name, None)
        assert callable(function), f"{cell} has no {name}"
        assert list(inspect.signature(function).parameters) == parameters, (cell, name)
    cfg = ModelConfig(vocab_size=5, hidden=8, layers=2, cell=cell)
    p = views(init_params(cfg, rng), cfg)
    for l in range(2):
        weights = module.step_weights(p, l, 5, 8, packed)
        # a NamedTuple class registered for cell_step, which dispatches on it
        assert hasattr(weights, "_fields") and "work_columns" in weights._fields
        assert type(weights) in STEP_CLASSES


def test_an_unknown_cell_is_a_clear_error():
    with pytest.raises(Exception, match="unknown cell 'lstm2'; the cells are lstm"):
        cells.get("lstm2")


# Every per-cell test: the reference and gradient checks, step against
# forward, beam search, precisions, the commands (learn, sample, evaluate,
# resume bit for bit).
PER_CELL = [
    "model/test_model.py",
    "model/test_generation.py",
    "model/test_precision.py",
    "cells/test_cells_through_the_commands.py",
    "cells/test_registry.py",
    "commands/test_evaluate.py",
    "commands/test_export.py",
    "commands/test_viz.py",
]


def test_an_eighth_cell_gets_the_whole_suite(tmp_path):
    """tests/eighth_cell.py, a simple gated unit unlike the six, registered by
    conftest.py as a new cell would be: every per-cell test runs for it and passes."""
    # Into a copy of the compiled-code cache: its indexes would name the
    # test's module, which no other process can import.
    current = cache.configure()
    if current:
        shutil.copytree(current, tmp_path / os.path.basename(current))
    env = {**os.environ, "CHARRNN_TEST_EIGHTH_CELL": "1", "NUMBA_CACHE_DIR": str(tmp_path)}
    env.pop(cache.BASE_VAR, None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "-k",
            "sgu",
            *(str(TESTS / f) for f in PER_CELL),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=TESTS.parent,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = re.findall(r"^PASSED (\S+)", done.stdout, re.M)
    for test in (
        "test_forward_matches_reference",
        "test_gradients_match_finite_differences",
        "test_float32_at_a_realistic_size_agrees_with_float64",
        "test_model_step_matches_forward",
        "test_beam_of_one_is_greedy",
        "test_generation_runs_the_model_that_eval_scores",
        "test_every_cell_learns_samples_and_evaluates",
        "test_stopped_and_resumed_equals_straight_for_every_cell",
        "test_every_cell_satisfies_the_protocol",
    ):
        assert any(f"::{test}[" in name and "sgu" in name for name in passed), test
    assert not re.search(r"^(FAILED|ERROR|SKIPPED)", done.stdout, re.M)
