"""Loss of a model over a text, with the hidden state carried from chunk to chunk:
what ``charrnn eval`` reports, and validation during training."""

import functools
import math
import time
from dataclasses import dataclass

import numpy as np

from .data.corpus import load_corpus
from .decode import rounded_params
from .errors import CharrnnError
from .kernels.buffers import Workspace
from .kernels.threads import WORK_BLOCKS, Threads, step_work
from .model import forward, zero_state
from .precision import resolve

EVAL_CHUNK = 128  # time steps per forward call: bounds the memory of evaluation
MAX_EXP = 709  # exp of more overflows a float64: the perplexity is then infinite


@dataclass
class Loss:
    """How well a model predicts a text, each character from those before it."""

    loss: float  # nats per character
    bits_per_char: float
    perplexity: float
    characters: int  # predicted: all but the first

    @classmethod
    def of(cls, total, count):
        """The Loss of ``total`` nats summed over ``count`` predictions."""
        loss = total / count
        return cls(loss, loss / math.log(2), math.exp(loss) if loss < MAX_EXP else math.inf, count)


@dataclass
class Evaluation:
    """A text file scored: ``charrnn eval``'s report."""

    loss: Loss
    skipped: int  # characters the model never saw, dropped (unknown="skip")
    skipped_chars: set  # which, each once
    precision: str  # of the weights, as sampling multiplies by them
    seconds: float  # of the scoring itself


def text_loss(ckpt, ids, precision, *, what="the text", in_place=False, threads=None):
    """(The Loss of ckpt's model over ``ids`` (of ``what``, for messages), read as
    one stream from a zero state with the weights rounded to ``precision`` as
    sampling rounds them; the seconds it took).  ``in_place`` rounds ckpt.params
    themselves; ``threads``: kernels.threads.run_on's."""
    if len(ids) < 2:
        raise CharrnnError(f"{what}: needs at least 2 characters to predict one")
    params = rounded_params(ckpt.params, ckpt.model, precision, in_place=in_place)
    started = time.perf_counter()
    total, count = stream_loss(
        params,
        ckpt.model,
        ids,
        blocks=WORK_BLOCKS,
        threads=Threads(threads, step_work(params.size, ckpt.model.layers, 1)),
    )
    return Loss.of(total, count), time.perf_counter() - started


def evaluate_file(
    ckpt, path, precision="auto", *, encoding="utf-8", skip_unknown=False, threads=None
):
    """The Evaluation of ckpt's model on the text file ``path``, in ``precision``
    (precision.CHOICES).  Rounds ckpt.params in place: a checkpoint loaded for
    this alone (a copy would be 13 MB at 2x512)."""
    precision = resolve(precision, ckpt.params.size)
    text = load_corpus(path, encoding, vocab=ckpt.vocab, skip_unknown=skip_unknown)
    loss, seconds = text_loss(ckpt, text.ids, precision, what=path, in_place=True, threads=threads)
    return Evaluation(loss, text.skipped, text.skipped_chars, precision, seconds)


def stream_loss(
    params, cfg, ids, streams=1, chunk=EVAL_CHUNK, blocks=1, workspace=None, threads=None
):
    """(summed loss in nats, predictions) of predicting ids[1:] from ids[:-1].

    The text is cut into ``streams`` contiguous streams run side by side, each
    from a zero state; the fewer than ``streams`` positions left over at the
    end run as one more stream, so every position is counted exactly once.
    ``blocks``: work blocks shared among the threads (threads.use_threads).
    ``workspace``: buffers to run in, e.g. training's (which then need not
    grow when streams x chunk is at most its batch x sequence length).
    ``threads``: a threads.Threads that weighs the load again between chunks.
    """
    n_pred = len(ids) - 1
    if n_pred < 1:
        return 0.0, 0
    streams = min(streams, n_pred)
    columns = n_pred // streams
    starts = np.arange(streams) * columns
    workspace = workspace or Workspace()  # the same buffers for every chunk
    run = functools.partial(_run_streams, params, cfg, ids, chunk, blocks, workspace, threads)
    total = run(starts, columns)
    tail = streams * columns
    if tail < n_pred:
        total += run(np.array([tail]), n_pred - tail)
    return total, n_pred


def _run_streams(params, cfg, ids, chunk, blocks, workspace, threads, starts, columns):
    state = zero_state(cfg, len(starts), params.dtype)
    total = 0.0
    for begin in range(0, columns, chunk):
        if threads is not None:
            threads.update()
        end = min(begin + chunk, columns)
        positions = np.arange(begin, end + 1)[:, None] + starts[None, :]
        block = np.asarray(ids[positions], dtype=np.int32)
        loss, state, _ = forward(
            params, cfg, block[:-1], block[1:], state, blocks=blocks, workspace=workspace
        )
        total += loss
    return total
