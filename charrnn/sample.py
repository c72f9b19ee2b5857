"""Text generation: temperature / top-k sampling, greedy decoding and beam search.

Dimension key: K = sequences stepped together (1 when sampling, the beam
width in beam search), V = vocabulary, H = hidden, G = 4H, L = layers.

Whole generation loops run inside compiled functions; Python only hands out
chunks of ids so that text can be streamed as it is produced.
"""
import math

import numpy as np

from .activations import kernel, sigmoid, tanh
from .matvec import add_product_nt
from .model import views


def generation_weights(params, cfg):
    """The weights re-laid out for model_step: per layer, the input rows (layer 0:
    W_x as is, one row per character) or W_x transposed (G, H), then W_h
    transposed (G, H) and the bias; then W_y transposed (V, H) and b_y; flat."""
    p = views(params, cfg)
    V, H = cfg.vocab_size, cfg.hidden
    pieces = []
    for l in range(cfg.layers):
        w = p[f"w{l}"]
        pieces += [w[:V] if l == 0 else w[:H].T, w[-H:].T, p[f"b{l}"]]
    pieces += [p["w_y"].T, p["b_y"]]
    return np.concatenate([np.ascontiguousarray(x).ravel() for x in pieces])


@kernel
def model_step(weights, V, H, L, ids, h, c, gates, logits):
    """Advance K sequences by one character each.

    weights: from generation_weights; ids (K,) the characters just read;
    h, c (L, K, H) state, updated in place; gates (K, G) scratch;
    logits (K, V) out: scores of the next character.
    """
    G = 4 * H
    K = ids.shape[0]
    offset = 0
    for l in range(L):
        n_in = V if l == 0 else H
        w_in = weights[offset:offset + n_in * G]
        offset += n_in * G
        w_h_t = weights[offset:offset + G * H].reshape(G, H)
        offset += G * H
        bias = weights[offset:offset + G]
        offset += G
        if l == 0:
            table = w_in.reshape(V, G)  # the input product is a row lookup
            for k in range(K):
                for j in range(G):
                    gates[k, j] = table[ids[k], j] + bias[j]
        else:
            for k in range(K):
                gates[k] = bias
            add_product_nt(h[l - 1], w_in.reshape(G, H), gates)
        add_product_nt(h[l], w_h_t, gates)
        for k in range(K):
            for j in range(H):
                i = sigmoid(gates[k, j])
                f = sigmoid(gates[k, H + j])
                o = sigmoid(gates[k, 2 * H + j])
                g = tanh(gates[k, 3 * H + j])
                c[l, k, j] = f * c[l, k, j] + i * g
                h[l, k, j] = o * tanh(c[l, k, j])
    w_y_t = weights[offset:offset + V * H].reshape(V, H)
    offset += V * H
    for k in range(K):
        logits[k] = weights[offset:offset + V]
    add_product_nt(h[L - 1], w_y_t, logits)


@kernel
def feed(weights, V, H, L, ids, h, c, logits):
    """Run one sequence (K = 1) over ``ids``; logits (1, V) then score what follows."""
    gates = np.empty((1, 4 * H), weights.dtype)
    x = np.empty(1, np.int64)
    for t in range(ids.shape[0]):
        x[0] = ids[t]
        model_step(weights, V, H, L, x, h, c, gates, logits)


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
    gates = np.empty((1, 4 * H), weights.dtype)
    x = np.empty(1, np.int64)
    for t in range(out.shape[0]):
        x[0] = choose(logits[0], temperature, top_k, uniforms[t])
        out[t] = x[0]
        model_step(weights, V, H, L, x, h, c, gates, logits)


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
def beam_search(weights, V, H, L, h, c, logits, width, length):
    """The most probable continuation of ``length`` characters found by a beam of
    ``width`` sequences, each step keeping the ``width`` highest log-probability
    extensions of all beams.  h, c (L, 1, H) and logits (1, V): the state after
    the prime.  Returns (ids (length,), log-probability)."""
    K = width
    hs = np.empty((L, K, H), weights.dtype)
    cs = np.empty((L, K, H), weights.dtype)
    for k in range(K):
        hs[:, k] = h[:, 0]
        cs[:, k] = c[:, 0]
    beam_logits = np.empty((K, V), weights.dtype)
    for k in range(K):
        beam_logits[k] = logits[0]
    logp = np.empty((K, V), np.float64)
    score = np.full(K, -np.inf)
    score[0] = 0.0  # one live beam at the start: the others would be duplicates
    parents = np.zeros((length, K), np.int64)
    tokens = np.zeros((length, K), np.int64)
    candidates = np.empty(K * V)
    gates = np.empty((K, 4 * H), weights.dtype)
    for t in range(length):
        log_softmax_rows(beam_logits, logp)
        for k in range(K):
            for v in range(V):
                candidates[k * V + v] = score[k] + logp[k, v]
        order = np.argsort(-candidates, kind="mergesort")[:K]  # stable: ties keep id order
        for k in range(K):
            parents[t, k] = order[k] // V
            tokens[t, k] = order[k] % V
            score[k] = candidates[order[k]]
        if t + 1 == length:
            break
        hs[:] = hs[:, parents[t]]
        cs[:] = cs[:, parents[t]]
        model_step(weights, V, H, L, tokens[t], hs, cs, gates, beam_logits)
    best = np.empty(length, np.int64)
    k = 0  # candidates are sorted: beam 0 is the best
    for t in range(length - 1, -1, -1):
        best[t] = tokens[t, k]
        k = parents[t, k]
    return best, score[0]
