import numpy as np
import pytest

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
        seq = ids[start:start + n + 1, None]
        expected += forward(params, cfg, seq[:-1], seq[1:], zero_state(cfg, 1, np.float64))[0]
    assert total == pytest.approx(expected, rel=1e-10)
