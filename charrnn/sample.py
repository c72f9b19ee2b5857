"""The engine of ``charrnn sample``: sampling and beam search over a loaded
checkpoint, the compiled loops in decode.py."""

import numpy as np

from .decode import beam_search, feed, generate, generation_weights
from .errors import CharrnnError
from .kernels.threads import Threads, step_work
from .memory import check_memory
from .model import state_size, zero_state

CHUNK = 256  # characters generated per compiled call between writes to the output
# The widest beam: choosing a step's best K of K x V extensions costs K^2 V at
# worst, and past a few dozen beams the text found hardly changes.
MAX_BEAM = 1000


def generation_weights_of(ckpt, precision):
    """decode.generation_weights of the checkpoint, packed in ``precision`` at
    the first call and kept with it (training, which changes the parameters,
    empties ckpt.packed)."""
    if precision not in ckpt.packed:
        ckpt.packed[precision] = generation_weights(ckpt.params, ckpt.model, precision)
    return ckpt.packed[precision]


def primed_state(ckpt, weights, prime, rng):
    """(state, logits) after reading ``prime``; without one, after a newline
    (or a random character if the corpus had no newlines).  ``weights`` from
    decode.generation_weights."""
    m = ckpt.model
    if prime:
        ids = ckpt.vocab.encode(prime, what="--prime", fix="leave them out of the prime")
    elif random_start(ckpt, prime):
        ids = rng.integers(0, m.vocab_size, 1)
    else:
        ids = np.array([ckpt.vocab.index["\n"]])
    state = zero_state(m, 1)
    logits = np.zeros((1, m.vocab_size), np.float32)
    feed(weights, ids.astype(np.int64), state, logits)
    return state, logits


def random_start(ckpt, prime):
    """Whether generation starts from a random character: no prime, and no
    newline in the vocabulary to start after."""
    return not prime and "\n" not in ckpt.vocab.index


def seeded(ckpt, prime, sampled):
    """Whether the seed shapes the text: when ``sampled`` (not greedy, not a
    beam), and otherwise only through a random start."""
    return sampled or random_start(ckpt, prime)


def sample_text(
    ckpt,
    length,
    temperature=1.0,
    top_k=0,
    greedy=False,
    prime="",
    seed=None,
    stop=None,
    precision="float32",
    threads=None,
):
    """Yield the generated text in pieces (the prime not included).
    ``precision``: of the weights multiplied (precision.py); ``threads``:
    CPU threads (kernels.threads.Threads: None weighs the free CPUs again as
    the pieces come).

    With ``stop``, generation ends just after its first occurrence in the
    generated text.
    """
    check_length(length)
    check_seed(seed)
    if not 0 < temperature < float("inf"):
        raise CharrnnError(f"--temperature must be a positive number, not {temperature}")
    if top_k < 0:
        raise CharrnnError(f"--top-k must be >= 0, not {top_k}")
    rng = np.random.default_rng(seed)
    threads = Threads(threads, step_work(ckpt.params.size, ckpt.model.layers, 1))
    threads.update()
    weights = generation_weights_of(ckpt, precision)
    state, logits = primed_state(ckpt, weights, prime, rng)
    tail = ""  # the end of the text so far, to find ``stop`` across pieces
    remaining = length
    while remaining > 0:
        n = min(CHUNK, remaining)
        threads.update()
        out = np.empty(n, np.int64)
        generate(
            weights,
            state,
            logits,
            0.0 if greedy else float(temperature),
            int(top_k),
            rng.random(n),
            out,
        )
        remaining -= n
        piece = ckpt.vocab.decode(out)
        if stop:
            found = (tail + piece).find(stop)
            if found >= 0:
                yield piece[: found + len(stop) - len(tail)]
                return
            tail = (tail + piece)[-(len(stop) - 1) :] if len(stop) > 1 else ""
        yield piece


def beam_text(ckpt, length, width, prime="", seed=None, stop=None, precision="float32"):
    """(The most probable continuation found by beam search, the prime not
    included; its log-probability in nats given the prime)."""
    check_length(length)
    check_seed(seed)
    if not 1 <= width <= MAX_BEAM:
        raise CharrnnError(
            f"--beam must be from 1 to {MAX_BEAM:,}, not {width:,} (a step's cost grows "
            "with the square of the width, and wider beams hardly change the text found)"
        )
    check_memory(
        beam_bytes(ckpt.model, width, length),
        f"a beam of {width:,} over {length:,} characters",
        "lower --beam or --length",
    )
    weights = generation_weights_of(ckpt, precision)
    state, logits = primed_state(ckpt, weights, prime, np.random.default_rng(seed))
    start = (state.copy(), logits.copy())
    ids, log_probability = beam_search(weights, state, logits, width, length)
    text = ckpt.vocab.decode(ids)
    if stop and stop in text:
        text = text[: text.index(stop) + len(stop)]
        log_probability = text_log_probability(weights, *start, ids[: len(text)])
    return text, float(log_probability)


def text_log_probability(weights, state, logits, ids):
    """log P(ids | the state and logits they follow), in nats; state and logits
    are advanced past ``ids``."""
    total = 0.0
    for i in ids:
        row = logits[0].astype(np.float64)
        top = row.max()
        total += row[i] - top - np.log(np.exp(row - top).sum())
        feed(weights, np.array([i], np.int64), state, logits)
    return total


def beam_bytes(model, width, length):
    """The memory decode.beam_search takes, at least: K = ``width`` states
    (L, S, K, H) float32 twice, scores and log-probabilities (K, V) in float32
    and float64 twice, and each step's parent and character of every beam
    (int64)."""
    states = 2 * 4 * model.layers * state_size(model) * model.hidden
    return width * (states + 20 * model.vocab_size + 8 + 16 * length)


def check_seed(seed):
    if seed is not None and seed < 0:
        raise CharrnnError(f"--seed must be a number >= 0, not {seed}")


def check_length(length):
    if length < 1:
        raise CharrnnError(f"--length must be at least 1, not {length}")
