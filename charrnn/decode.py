"""Generation loops, compiled: temperature / top-k sampling, greedy decoding
and beam search, for any cell.

Dimension key: K = sequences stepped together (1 when sampling, the beam
width in beam search), V = vocabulary, H = hidden, L = layers, S = the
cell's state arrays.  The state is (L, S, K, H), as in model.py.

Each layer's step is its cell's (cells.step.cell_step, chosen by the type of
the layer's weights); the loops here only chain the layers, decode and
choose.  Whole generation loops run inside compiled functions; Python only
hands out chunks of ids so that text can be streamed as it is produced.
"""

import functools
import math

import numpy as np

from . import cells
from .cells.step import cell_step
from .kernels.jit import inner_kernel, kernel
from .kernels.rows import add_product, packed, packed_columns, rounding
from .model import views


def generation_weights(params, cfg, precision="float32", pack=None):
    """(layers, w_y, b_y): a tuple of each layer's step weights (the cell's
    StepWeights), the decoder packed for rows.add_product and its bias.
    The matrices that are multiplied (not the rows looked up by character,
    nor the biases) are packed in ``precision`` (precision.py), or
    by ``pack`` if given."""
    cell = cells.get(cfg.cell)
    p = views(params, cfg)
    pack = pack or functools.partial(packed, precision=precision)
    layers = tuple(
        cell.step_weights(p, l, cfg.vocab_size, cfg.hidden, pack) for l in range(cfg.layers)
    )
    return layers, pack(p["w_y"]), np.asarray(p["b_y"], np.float32)


def rounded_params(params, cfg, precision, in_place=False):
    """A float32 copy of params (with in_place, params itself) holding the
    values that generation in ``precision`` multiplies by: the model that
    samples, for evaluation."""
    if not in_place:
        params = np.array(params, np.float32)
    generation_weights(params, cfg, pack=rounding(precision))
    return params


@inner_kernel
def model_step(weights, ids, state, work, logits):
    """Advance K sequences by one character each.

    weights: from generation_weights; ids (K,) the characters just read;
    state (L, S, K, H), updated in place; work, logits from scratch(weights, K):
    afterwards logits[:, :V] score the next character.
    """
    layers, w_y, b_y = weights
    L = len(layers)
    for l in range(L):
        cell_step(layers[l], ids, state[max(l - 1, 0), 0], state[l], work)
    for k in range(ids.shape[0]):
        logits[k, : b_y.shape[0]] = b_y
    add_product(state[L - 1, 0], w_y, logits)


@kernel
def scratch(weights, K):
    """(work, logits) buffers for model_step, K rows, padded to whole panels."""
    layers, _, b_y = weights
    return (
        np.zeros((K, layers[0].work_columns), np.float32),
        np.zeros((K, packed_columns(b_y.shape[0])), np.float32),
    )


@kernel
def feed(weights, ids, state, logits):
    """Run one sequence (K = 1) over ``ids``; logits (1, V) then score what follows."""
    work, padded = scratch(weights, 1)
    x = np.empty(1, np.int64)
    for t in range(ids.shape[0]):
        x[0] = ids[t]
        model_step(weights, x, state, work, padded)
    logits[0] = padded[0, : logits.shape[1]]


@kernel
def choose(scores, temperature, top_k, uniform):
    """Draw an id from softmax(scores / temperature) restricted to the top_k best
    (top_k <= 0: all) by inverting the CDF at ``uniform`` in [0, 1);
    temperature 0 means argmax."""
    if temperature == 0.0:
        return np.argmax(scores)
    V = scores.shape[0]
    cutoff = -np.inf
    if 0 < top_k < V:
        cutoff = np.sort(scores)[V - top_k]
    top = scores.max()
    weights = np.zeros(V)
    for v in range(V):
        if scores[v] >= cutoff:
            weights[v] = math.exp((scores[v] - top) / temperature)
    target = uniform * weights.sum()
    acc = 0.0
    for v in range(V):
        acc += weights[v]
        if acc > target and weights[v] > 0.0:
            return v
    return np.argmax(scores)  # target rounded up to the total


@kernel
def generate(weights, state, logits, temperature, top_k, uniforms, out):
    """Sample len(out) characters, feeding each back in; state and logits carry on."""
    V = logits.shape[1]
    work, padded = scratch(weights, 1)
    padded[0, :V] = logits[0]
    x = np.empty(1, np.int64)
    for t in range(out.shape[0]):
        x[0] = choose(padded[0, :V], temperature, top_k, uniforms[t])
        out[t] = x[0]
        model_step(weights, x, state, work, padded)
    logits[0] = padded[0, :V]


@kernel
def log_softmax_rows(logits, out):
    for k in range(logits.shape[0]):
        top = logits[k].max()
        total = 0.0
        for v in range(logits.shape[1]):
            total += math.exp(logits[k, v] - top)
        log_z = top + math.log(total)
        for v in range(logits.shape[1]):
            out[k, v] = logits[k, v] - log_z


@kernel
def top_indices(values, out):
    """out[:] = the indices of the len(out) largest values, best first; of equal
    values the lower index first (as a stable sort).  Insertion into the short
    sorted list: O(len(values) * len(out)), no allocation."""
    K = out.shape[0]
    n = 0
    for i in range(values.shape[0]):
        v = values[i]
        if n == K and not v > values[out[K - 1]]:
            continue
        j = min(n, K - 1)
        while j > 0 and v > values[out[j - 1]]:
            out[j] = out[j - 1]
            j -= 1
        out[j] = i
        n = min(n + 1, K)


@kernel
def beam_search(weights, state, logits, width, length):
    """The most probable continuation of ``length`` characters found by a beam of
    ``width`` sequences, each step keeping the ``width`` highest log-probability
    extensions of all beams.  state (L, S, 1, H) and logits (1, V): after the
    prime.  Returns (ids (length,), log-probability)."""
    K = width
    L, S, _, H = state.shape
    V = logits.shape[1]
    beams = np.empty((L, S, K, H), np.float32)
    beams_next = np.empty_like(beams)
    for k in range(K):
        beams[:, :, k] = state[:, :, 0]
    work, beam_logits = scratch(weights, K)
    for k in range(K):
        beam_logits[k, :V] = logits[0]
    logp = np.empty((K, V), np.float64)
    score = np.full(K, -np.inf)
    score[0] = 0.0  # one live beam at the start: the others would be duplicates
    parents = np.zeros((length, K), np.int64)
    tokens = np.zeros((length, K), np.int64)
    candidates = np.empty(K * V)
    best_k = np.empty(K, np.int64)
    for t in range(length):
        log_softmax_rows(beam_logits[:, :V], logp)
        for k in range(K):
            for v in range(V):
                candidates[k * V + v] = score[k] + logp[k, v]
        top_indices(candidates, best_k)
        for k in range(K):
            parents[t, k] = best_k[k] // V
            tokens[t, k] = best_k[k] % V
            score[k] = candidates[best_k[k]]
        if t + 1 == length:
            break
        for k in range(K):  # each new beam continues the state of its parent
            beams_next[:, :, k] = beams[:, :, parents[t, k]]
        beams, beams_next = beams_next, beams
        model_step(weights, tokens[t], beams, work, beam_logits)
    best = np.empty(length, np.int64)
    k = 0  # candidates are sorted: beam 0 is the best
    for t in range(length - 1, -1, -1):
        best[t] = tokens[t, k]
        k = parents[t, k]
    return best, score[0]
