"""The character language model: input lookup -> L LSTM layers -> linear decoder -> softmax.

Dimension key: T = time steps, B = batch streams, V = vocabulary, H = hidden,
G = 4H gates (i, f, o, g), L = layers, N = T*B positions.

All parameters live in one flat buffer; ``views`` names its pieces, so the
optimizer, clipping and checkpoints are each one loop over one array.  Layer
l has one fused weight W_l = [W_x; W_h] of shape (D_l + H, G), D_0 = V
(row v is the input weight of character v), D_l = H above.
"""
from dataclasses import dataclass

import numpy as np

from .blas import split_gemm, split_gemm_two
from .lstm import (embedding_backward, embedding_forward, lstm_backward, lstm_forward,
                   lstm_replay)
from .loss import softmax_cross_entropy
from .tiles import panels_shape


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int       # V: distinct characters of the training corpus
    hidden: int = 512     # H: LSTM units per layer
    layers: int = 2       # L: stacked LSTM layers
    dropout: float = 0.0  # drop probability between layers and before the decoder


def param_shapes(cfg):
    """[(name, shape)] in buffer order."""
    V, H = cfg.vocab_size, cfg.hidden
    shapes = []
    for l in range(cfg.layers):
        d_in = V if l == 0 else H
        shapes += [(f"w{l}", (d_in + H, 4 * H)), (f"b{l}", (4 * H,))]
    return shapes + [("w_y", (H, V)), ("b_y", (V,))]


def param_count(cfg):
    return sum(int(np.prod(shape)) for _, shape in param_shapes(cfg))


def views(flat, cfg):
    """Named views into the flat buffer ``flat`` (parameters or their gradients)."""
    out, offset = {}, 0
    for name, shape in param_shapes(cfg):
        size = int(np.prod(shape))
        out[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    return out


def init_params(cfg, rng, dtype=np.float32):
    """Uniform(-1/sqrt(H), 1/sqrt(H)) as PyTorch's LSTM, forget-gate bias 1."""
    bound = 1.0 / np.sqrt(cfg.hidden)
    flat = rng.uniform(-bound, bound, param_count(cfg)).astype(dtype)
    p = views(flat, cfg)
    H = cfg.hidden
    for l in range(cfg.layers):
        p[f"b{l}"][:] = 0.0
        p[f"b{l}"][H:2 * H] = 1.0
    return flat


def zero_state(cfg, batch, dtype=np.float32):
    """(h, c), each (L, B, H)."""
    shape = (cfg.layers, batch, cfg.hidden)
    return np.zeros(shape, dtype), np.zeros(shape, dtype)


CACHE_LINE = 64


def aligned_empty(shape, dtype):
    """np.empty starting on a cache line.  Threads write neighbouring blocks
    of the same rows; where a block edge falls inside a cache line, the two
    cores fight over it at every step (at 2x128: 1.5x slower recurrence)."""
    size, itemsize = int(np.prod(shape)), np.dtype(dtype).itemsize
    raw = np.empty(size + CACHE_LINE // itemsize, dtype)
    start = (-raw.ctypes.data % CACHE_LINE) // itemsize
    return raw[start:start + size].reshape(shape)


class Workspace:
    """Buffers reused from chunk to chunk.  Fresh arrays every chunk would be
    fresh pages, and the page faults of their first touch cost a small model
    a tenth of its step (measured at 2x128)."""

    def __init__(self):
        self._buffers = {}

    def take(self, name, shape, dtype):
        """The buffer called ``name``, as an uninitialized array of this shape."""
        size = int(np.prod(shape))
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._buffers[name] = aligned_empty(size, dtype)
        return buffer[:size].reshape(shape)


@dataclass
class Cache:
    """What backward needs from forward.

    Memory is saved on the cells and hiddens (see forward): after forward only
    the top two layers' hiddens and the top layer's cells are still there;
    backward remakes the others when it reaches them."""
    inputs: np.ndarray   # (T, B) input ids
    layer_in: list       # per layer l >= 1: (T, B, H) input from below (after dropout);
                         # without dropout, a view of hiddens[l - 1][1:]
    gates: list          # per layer: (T, B, G) activated gates
    cells: np.ndarray    # (T+1, B, H) one layer's cells, [0] = its c0: the top layer's
                         # after forward, the current layer's during backward
    hiddens: list        # per layer: (T+1, B, H), [0] = h0; hiddens[l] and hiddens[l + 2]
                         # are the same buffer
    c0: np.ndarray       # (L, B, H) the carried-in state, to restore row [0] of the
    h0: np.ndarray       # cells and hiddens of the layers backward remakes
    masks: np.ndarray    # (L, T, B, H) dropout masks of the layer outputs, or None
    decoder_in: np.ndarray  # (N, H)
    dlogits: np.ndarray     # (N, V) d(grad_scale * loss)/dlogits
    workspace: Workspace    # where the arrays above live


def dropout_masks(cfg, rng, T, B, dtype=np.float32):
    """(L, T, B, H) inverted-dropout masks (0 or 1/keep) for every layer's output,
    or None without dropout."""
    if cfg.dropout == 0:
        return None
    keep = 1.0 - cfg.dropout
    draws = rng.random((cfg.layers, T, B, cfg.hidden), dtype=np.float32)
    return (draws < keep).astype(dtype) / dtype(keep)


def forward(params, cfg, inputs, targets, h0, c0, masks=None, grad_scale=0.0, blocks=1,
            workspace=None):
    """Loss over one chunk.

    inputs, targets (T, B) ids; h0, c0 (L, B, H); masks (L, T, B, H) from
    dropout_masks, or None (evaluation).  With grad_scale > 0, keep what
    backward needs to give the gradient of grad_scale * loss.  Returns
    (summed loss over the T*B positions, hT, cT, cache or None).  Buffers come
    from ``workspace``: the cache lasts until its next use.  ``blocks``: work
    blocks shared among the threads (parallel.use_threads); results depend
    on it only through the order of floating-point sums.
    """
    ws = workspace or Workspace()
    p = views(params, cfg)
    T, B = inputs.shape
    V, H, G = cfg.vocab_size, cfg.hidden, 4 * cfg.hidden
    dtype = params.dtype
    # One cells buffer for all layers and two hiddens buffers in turn: backward
    # remakes the lower layers' cells and hiddens from their gates (lstm_replay),
    # which costs far less time than keeping them costs memory.
    cells = ws.take("cells", (T + 1, B, H), dtype)
    c0_kept, h0_kept = ws.take("c0", c0.shape, dtype), ws.take("h0", h0.shape, dtype)
    c0_kept[:], h0_kept[:] = c0, h0
    cache = Cache(inputs, [], [], cells, [], c0_kept, h0_kept, masks, None, None, ws)
    x = None  # (T, B, H) input from the layer below
    h_out, c_out = np.empty_like(h0), np.empty_like(c0)
    for l in range(cfg.layers):
        w = p[f"w{l}"]
        gates = ws.take(f"gates{l}", (T, B, G), dtype)
        if l == 0:
            embedding_forward(gates, w[:V], inputs)
        else:
            split_gemm(x.reshape(T * B, H), w[:H], gates.reshape(T * B, G), False, False, 0.0, blocks)
            cache.layer_in.append(x)
        hiddens = ws.take(f"hiddens{l % 2}", (T + 1, B, H), dtype)
        cells[0], hiddens[0] = c0[l], h0[l]
        w_h = w[-H:]
        panels = ws.take("panels", panels_shape(w_h, False), dtype)
        lstm_forward(gates, cells, hiddens, w_h, p[f"b{l}"], blocks, panels)
        h_out[l], c_out[l] = hiddens[T], cells[T]
        x = hiddens[1:]
        if masks is not None:
            x = np.multiply(x, masks[l], out=ws.take(f"dropped{l}", (T, B, H), dtype))
        cache.gates.append(gates)
        cache.hiddens.append(hiddens)
    decoder_in = x.reshape(T * B, H)
    logits = ws.take("logits", (T * B, V), dtype)
    logits[:] = p["b_y"]
    split_gemm(decoder_in, p["w_y"], logits, False, False, 1.0, blocks)
    loss = softmax_cross_entropy(logits, np.ascontiguousarray(targets).reshape(-1), grad_scale)
    if grad_scale > 0:
        cache.decoder_in, cache.dlogits = decoder_in, logits
        return loss, h_out, c_out, cache
    return loss, h_out, c_out, None


def backward(params, cfg, cache, grads, blocks=1):
    """Write the gradient of grad_scale * loss into ``grads`` (flat, like params).

    Returns (dh0, dc0), each (L, B, H): the gradient with respect to the
    carried-in state.  Uses up ``cache`` (gradients are written over it).
    """
    p, g = views(params, cfg), views(grads, cfg)
    T, B = cache.inputs.shape
    V, H, G, N = cfg.vocab_size, cfg.hidden, 4 * cfg.hidden, T * B
    cache.dlogits.sum(axis=0, out=g["b_y"])
    dx = cache.workspace.take("dx", (T, B, H), params.dtype)  # dL/d(output of the top layer)
    split_gemm_two(cache.decoder_in, cache.dlogits, g["w_y"], True, False,
                   cache.dlogits, p["w_y"], dx.reshape(N, H), False, True, blocks)
    dh0 = aligned_empty((cfg.layers, B, H), params.dtype)
    dc0 = aligned_empty((cfg.layers, B, H), params.dtype)
    cells = cache.cells
    for l in reversed(range(cfg.layers)):
        if cache.masks is not None:
            dx *= cache.masks[l]
        dgates = cache.gates[l]  # becomes the gradient of the gate pre-activations
        w_h = p[f"w{l}"][-H:]
        panels = cache.workspace.take("panels", panels_shape(w_h, True), params.dtype)
        lstm_backward(dgates, dh0[l], dc0[l], dx, cells, w_h, g[f"b{l}"], blocks, panels)
        if l > 0:
            # The layer below's cells go where this layer's were; its hiddens
            # were written over by the layer above it, if any.
            below = cache.hiddens[l - 1]
            cells[0], below[0] = cache.c0[l - 1], cache.h0[l - 1]
            lstm_replay(cache.gates[l - 1], cells, below, l + 1 < cfg.layers, blocks)
        dgates2 = dgates.reshape(N, G)
        dw = g[f"w{l}"]
        h_prev = cache.hiddens[l][:-1].reshape(N, H)
        if l == 0:
            split_gemm(h_prev, dgates2, dw[-H:], True, False, 0.0, blocks)
            embedding_backward(dw[:V], dgates, cache.inputs, blocks)
        else:
            split_gemm_two(cache.layer_in[l - 1].reshape(N, H), dgates2, dw[:H], True, False,
                           h_prev, dgates2, dw[-H:], True, False, blocks)
            split_gemm(dgates2, p[f"w{l}"][:H], dx.reshape(N, H), False, True, 0.0, blocks)
    return dh0, dc0


def loss_and_grad(params, cfg, inputs, targets, h, c, masks, grads, blocks=1, workspace=None):
    """Mean loss of the chunk; writes its gradient into ``grads``.
    Returns (mean loss, hT, cT)."""
    scale = 1.0 / inputs.size
    loss, hT, cT, cache = forward(params, cfg, inputs, targets, h, c, masks, scale, blocks,
                                  workspace)
    backward(params, cfg, cache, grads, blocks)
    return loss * scale, hT, cT
