"""Loss of a model over a text, with the hidden state carried from chunk to chunk."""
import numpy as np

from .kernels.buffers import Workspace
from .model import forward, zero_state

EVAL_CHUNK = 128  # time steps per forward call: bounds the memory of evaluation


def stream_loss(params, cfg, ids, streams=1, chunk=EVAL_CHUNK, blocks=1, workspace=None):
    """(summed loss in nats, predictions) of predicting ids[1:] from ids[:-1].

    The text is cut into ``streams`` contiguous streams run side by side, each
    from a zero state; the fewer than ``streams`` positions left over at the
    end run as one more stream, so every position is counted exactly once.
    ``blocks``: work blocks shared among the threads (threads.use_threads).
    ``workspace``: buffers to run in, e.g. training's (which then need not
    grow when streams x chunk is at most its batch x sequence length).
    """
    n_pred = len(ids) - 1
    if n_pred < 1:
        return 0.0, 0
    streams = min(streams, n_pred)
    columns = n_pred // streams
    starts = np.arange(streams) * columns
    workspace = workspace or Workspace()  # the same buffers for every chunk
    total = _run_streams(params, cfg, ids, starts, columns, chunk, blocks, workspace)
    tail = streams * columns
    if tail < n_pred:
        total += _run_streams(params, cfg, ids, np.array([tail]), n_pred - tail, chunk, blocks,
                              workspace)
    return total, n_pred


def _run_streams(params, cfg, ids, starts, columns, chunk, blocks, workspace):
    state = zero_state(cfg, len(starts), params.dtype)
    total = 0.0
    for begin in range(0, columns, chunk):
        end = min(begin + chunk, columns)
        positions = np.arange(begin, end + 1)[:, None] + starts[None, :]
        block = np.asarray(ids[positions], dtype=np.int32)
        loss, state, _ = forward(params, cfg, block[:-1], block[1:], state, blocks=blocks,
                                 workspace=workspace)
        total += loss
    return total
