"""The estimates a run is refused on, against what it really takes: the
memory of a training step (a lower bound, so that a run that fits is never
refused) and the disk its checkpoints need (an upper bound, so that a run
that starts does not fail for want of space)."""

import os

import numpy as np
import pytest

from charrnn import optim
from charrnn.cells import CELLS
from charrnn.kernels.buffers import Workspace
from charrnn.model import ModelConfig, dropout_masks, init_params, loss_and_grad, zero_state
from charrnn.train import TrainConfig
from charrnn.training.start import CHECKPOINT_MARGIN, checkpoint_bytes, training_bytes


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_the_memory_estimate_is_at_most_what_a_step_takes(cell, dropout, rng):
    model = ModelConfig(vocab_size=40, hidden=32, layers=3, dropout=dropout, cell=cell)
    cfg = TrainConfig(cell=cell, hidden=32, layers=3, seq_length=20, batch_size=8, threads=1)
    params = init_params(model, rng)
    ids = rng.integers(0, 40, (21, 8)).astype(np.int32)
    workspace = Workspace()
    masks = dropout_masks(model, rng, 20, 8)
    grads = np.zeros_like(params)
    loss_and_grad(
        params, model, ids[:-1], ids[1:], zero_state(model, 8), masks, grads, 1, workspace
    )
    arrays = 2 + len(optim.STATE_NAMES[cfg.optimizer])  # weights, gradients, Adam's moments
    taken = arrays * params.nbytes + workspace.nbytes() + (0 if masks is None else masks.nbytes)
    estimate = training_bytes(model, cfg, params.size)
    assert 0.7 * taken <= estimate <= taken


def test_the_checkpoint_estimate_covers_what_is_written(trained, tmp_path):
    out, ckpt = trained
    rows = len(ckpt.train_history) + len(ckpt.val_history)
    estimate = checkpoint_bytes(str(tmp_path), ckpt, 4, rows, np.random.default_rng(0))
    written = os.path.getsize(out / "last.npz")
    state = zero_state(ckpt.model, 4)  # counted whether or not the file has it (mid-epoch)
    assert written <= estimate <= written + CHECKPOINT_MARGIN + state.nbytes
    assert os.listdir(tmp_path) == []  # the measured skeleton removed
