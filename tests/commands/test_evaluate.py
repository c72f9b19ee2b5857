import numpy as np
import pytest

from charrnn.cells import CELLS
from charrnn.evaluate import stream_loss
from charrnn.model import ModelConfig, forward, init_params, zero_state


@pytest.mark.parametrize("streams,chunk", [(1, 7), (4, 5), (6, 64)])
def test_every_position_counted_once_each_stream_from_zero(streams, chunk, rng):
    cfg = ModelConfig(vocab_size=5, hidden=6, layers=2)
    params = init_params(cfg, rng, np.float64)
    ids = rng.integers(0, 5, 39)
    total, count = stream_loss(params, cfg, ids, streams=streams, chunk=chunk)
    assert count == 38
    # the same cut done by hand: `streams` equal streams, then the rest as one more
    columns = 38 // streams
    cuts = [(s * columns, columns) for s in range(streams)]
    if streams * columns < 38:
        cuts.append((streams * columns, 38 - streams * columns))
    expected = 0.0
    for start, n in cuts:
        seq = ids[start : start + n + 1, None]
        expected += forward(params, cfg, seq[:-1], seq[1:], zero_state(cfg, 1, np.float64))[0]
    assert total == pytest.approx(expected, rel=1e-10)


CELL_NAMES = list(CELLS)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_validation_in_the_training_buffers_adds_no_memory(cell, rng):
    """Training validates in its own workspace, in chunks of its size: the
    forward-only pass keeps nothing for a backward and the layers take turns
    in layer 0's buffers, so no buffer is added or grown."""
    from charrnn.kernels.buffers import Workspace
    from charrnn.model import loss_and_grad

    T, B = 6, 4
    cfg = ModelConfig(vocab_size=7, hidden=16, layers=3, cell=cell)
    params = init_params(cfg, rng)
    ids = rng.integers(0, 7, 200)
    workspace = Workspace()
    inputs = ids[: T * B].reshape(B, T).T.astype(np.int32)
    targets = ids[1 : T * B + 1].reshape(B, T).T.astype(np.int32)
    loss_and_grad(
        params,
        cfg,
        inputs,
        targets,
        zero_state(cfg, B),
        None,
        np.zeros_like(params),
        workspace=workspace,
    )
    before = workspace.nbytes(), workspace.names()
    shared = stream_loss(params, cfg, ids, streams=B, chunk=T, workspace=workspace)
    assert (workspace.nbytes(), workspace.names()) == before
    assert shared == stream_loss(params, cfg, ids, streams=B, chunk=T)  # fresh buffers


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_forward_only_keeps_one_layer_of_gates(cell, rng):
    """eval's own workspace: a 3-layer model needs the buffers of a 1-layer
    one (besides the input to layers above 0), not one set per layer."""
    from charrnn.kernels.buffers import Workspace

    sizes = {}
    for layers in (1, 3):
        cfg = ModelConfig(vocab_size=7, hidden=32, layers=layers, cell=cell)
        workspace = Workspace()
        stream_loss(
            init_params(cfg, rng),
            cfg,
            rng.integers(0, 7, 300),
            streams=2,
            chunk=50,
            workspace=workspace,
        )
        sizes[layers] = workspace.nbytes()
    one_layer_output = 51 * 2 * 32 * 4  # (T+1, B, H) float32: the second hiddens buffer
    assert sizes[3] <= sizes[1] + one_layer_output + 2 * 4096
