"""Text generation: temperature / top-k sampling, greedy decoding and beam search.

Dimension key: K = sequences stepped together (1 when sampling, the beam
width in beam search), V = vocabulary, H = hidden, G = 4H, L = layers.

Whole generation loops run inside compiled functions; Python only hands out
chunks of ids so that text can be streamed as it is produced.
"""
import math

import numpy as np

from .activations import kernel, sigmoid, tanh
from .lstm import lstm_cell, lstm_hidden
from .matvec import add_product, packed_columns
from .model import views
from .tiles import NR


def generation_weights(params, cfg):
    """The weights re-laid out for model_step, flat float32: per layer, the
    input weights (layer 0: W_x as is, one row per character, looked up;
    deeper layers: packed), W_h packed and the bias; then W_y packed and b_y.
    Packed: into panels for tiles.packed_product, columns padded with zeros
    to whole panels."""
    p = views(params, cfg)
    V, H = cfg.vocab_size, cfg.hidden
    pieces = []
    for l in range(cfg.layers):
        w = p[f"w{l}"]
        pieces += [w[:V] if l == 0 else _panels(w[:H]), _panels(w[-H:]), p[f"b{l}"]]
    pieces += [_panels(p["w_y"]), p["b_y"]]
    return np.concatenate([np.asarray(x, np.float32).ravel() for x in pieces])


def _panels(w):
    """w (D, N) as panels (N' / NR, D, NR), N' = N rounded up to whole panels."""
    D, N = w.shape
    padded = np.zeros((D, packed_columns(N)), np.float32)
    padded[:, :N] = w
    return np.ascontiguousarray(padded.reshape(D, -1, NR).transpose(1, 0, 2))


@kernel
def model_step(weights, V, H, L, ids, h, c, gates, logits):
    """Advance K sequences by one character each.

    weights: from generation_weights; ids (K,) the characters just read;
    h, c (L, K, H) state, updated in place; gates, logits from scratch(K, V, H):
    afterwards logits[:, :V] score the next character.
    """
    G = 4 * H
    Gp, Vp = gates.shape[1], logits.shape[1]
    K = ids.shape[0]
    offset = 0
    for l in range(L):
        if l == 0:
            table = weights[offset:offset + V * G].reshape(V, G)  # the input product: a lookup
            offset += V * G
        else:
            w_in = weights[offset:offset + H * Gp].reshape(Gp // NR, H, NR)
            offset += H * Gp
        w_h = weights[offset:offset + H * Gp].reshape(Gp // NR, H, NR)
        offset += H * Gp
        bias = weights[offset:offset + G]
        offset += G
        if l == 0:
            for k in range(K):
                for j in range(G):
                    gates[k, j] = table[ids[k], j] + bias[j]
        else:
            for k in range(K):
                gates[k, :G] = bias
            add_product(h[l - 1], w_in, gates)
        add_product(h[l], w_h, gates)
        for k in range(K):
            for j in range(H):
                i = sigmoid(gates[k, j])
                f = sigmoid(gates[k, H + j])
                o = sigmoid(gates[k, 2 * H + j])
                g = tanh(gates[k, 3 * H + j])
                c[l, k, j] = lstm_cell(i, f, g, c[l, k, j])
                h[l, k, j] = lstm_hidden(o, c[l, k, j])
    w_y = weights[offset:offset + H * Vp].reshape(Vp // NR, H, NR)
    offset += H * Vp
    for k in range(K):
        logits[k, :V] = weights[offset:offset + V]
    add_product(h[L - 1], w_y, logits)


@kernel
def feed(weights, V, H, L, ids, h, c, logits):
    """Run one sequence (K = 1) over ``ids``; logits (1, V) then score what follows."""
    gates, padded = scratch(1, V, H)
    x = np.empty(1, np.int64)
    for t in range(ids.shape[0]):
        x[0] = ids[t]
        model_step(weights, V, H, L, x, h, c, gates, padded)
    logits[0] = padded[0, :V]


@kernel
def scratch(K, V, H):
    """(gates, logits) buffers for model_step, K rows, padded to whole panels."""
    return (np.zeros((K, packed_columns(4 * H)), np.float32),
            np.zeros((K, packed_columns(V)), np.float32))


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
def generate(weights, V, H, L, h, c, logits, temperature, top_k, uniforms, out):
    """Sample len(out) characters, feeding each back in; state and logits carry on."""
    gates, padded = scratch(1, V, H)
    padded[0, :V] = logits[0]
    x = np.empty(1, np.int64)
    for t in range(out.shape[0]):
        x[0] = choose(padded[0, :V], temperature, top_k, uniforms[t])
        out[t] = x[0]
        model_step(weights, V, H, L, x, h, c, gates, padded)
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
def beam_search(weights, V, H, L, h, c, logits, width, length):
    """The most probable continuation of ``length`` characters found by a beam of
    ``width`` sequences, each step keeping the ``width`` highest log-probability
    extensions of all beams.  h, c (L, 1, H) and logits (1, V): the state after
    the prime.  Returns (ids (length,), log-probability)."""
    K = width
    hs, cs = np.empty((L, K, H), np.float32), np.empty((L, K, H), np.float32)
    hs_next, cs_next = np.empty_like(hs), np.empty_like(cs)
    for k in range(K):
        hs[:, k] = h[:, 0]
        cs[:, k] = c[:, 0]
    gates, beam_logits = scratch(K, V, H)
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
            hs_next[:, k] = hs[:, parents[t, k]]
            cs_next[:, k] = cs[:, parents[t, k]]
        hs, hs_next, cs, cs_next = hs_next, hs, cs_next, cs
        model_step(weights, V, H, L, tokens[t], hs, cs, gates, beam_logits)
    best = np.empty(length, np.int64)
    k = 0  # candidates are sorted: beam 0 is the best
    for t in range(length - 1, -1, -1):
        best[t] = tokens[t, k]
        k = parents[t, k]
    return best, score[0]
