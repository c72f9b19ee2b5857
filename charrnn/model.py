"""The character language model: L recurrent layers of one cell -> linear decoder -> softmax.

Dimension key: T = time steps, B = batch streams, V = vocabulary, H = hidden,
L = layers, S = the cell's state arrays (h, or h and c), N = T*B positions.

The cell (cells/) owns its layers: their parameters, their arithmetic and
how layer 0 reads characters.  This module stacks them, applies dropout
between layers and before the decoder, and decodes the top layer.  All
parameters live in one flat buffer; ``views`` names its pieces, so the
optimizer, clipping and checkpoints are each one loop over one array.  The
carried state is one array (L, S, B, H); state[l, 0] is layer l's h.
"""

from dataclasses import dataclass

import numpy as np

from . import cells
from .kernels.blas import AS_IS, TRANSPOSED
from .kernels.products import matmul, matmul_two
from .kernels.buffers import Workspace, aligned_empty
from .loss import softmax_cross_entropy


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int  # V: distinct characters of the training corpus
    hidden: int = 512  # H: units per layer
    layers: int = 2  # L: stacked layers
    dropout: float = 0.0  # drop probability between layers and before the decoder
    cell: str = "lstm"  # the recurrent cell: a name in cells.CELLS


def param_shapes(cfg):
    """[(name, shape)] in buffer order: the layers', then the decoder's."""
    cell = cells.get(cfg.cell)
    shapes = []
    for l in range(cfg.layers):
        shapes += cell.layer_shapes(l, cfg.vocab_size, cfg.hidden)
    return shapes + [("w_y", (cfg.hidden, cfg.vocab_size)), ("b_y", (cfg.vocab_size,))]


def param_count(cfg):
    return sum(int(np.prod(shape)) for _, shape in param_shapes(cfg))


def views(flat, cfg):
    """Named views into the flat buffer ``flat`` (parameters or their gradients)."""
    out, offset = {}, 0
    for name, shape in param_shapes(cfg):
        size = int(np.prod(shape))
        out[name] = flat[offset : offset + size].reshape(shape)
        offset += size
    return out


def init_params(cfg, rng, dtype=np.float32):
    """Uniform(-1/sqrt(H), 1/sqrt(H)) as PyTorch's recurrent layers, then the
    cell's own values (biases, embeddings)."""
    bound = 1.0 / np.sqrt(cfg.hidden)
    flat = rng.uniform(-bound, bound, param_count(cfg)).astype(dtype)
    p = views(flat, cfg)
    cell = cells.get(cfg.cell)
    for l in range(cfg.layers):
        cell.init_layer(p, l, cfg.hidden, rng)
    return flat


def state_size(cfg):
    """S: the state arrays a layer carries."""
    return len(cells.get(cfg.cell).STATES)


def zero_state(cfg, batch, dtype=np.float32):
    """(L, S, B, H) zeros."""
    return np.zeros((cfg.layers, state_size(cfg), batch, cfg.hidden), dtype)


@dataclass
class Cache:
    """What backward needs from forward, besides what the cell keeps in the
    workspace.  The cell may share buffers between layers and remake them in
    backward (cells' replay): only the arrays named here are the model's."""

    inputs: np.ndarray  # (T, B) input ids
    # per layer l >= 1: (T, B, H) input from below (after dropout); without
    # dropout, a view of hiddens[l - 1][1:]
    layer_in: list
    hiddens: list  # per layer: (T+1, B, H), [0] = h0, as the cell returned them
    state0: np.ndarray  # (L, S, B, H) the carried-in state, for replay
    masks: np.ndarray  # (L, T, B, H) dropout masks of the layer outputs, or None
    decoder_in: np.ndarray  # (N, H)
    dlogits: np.ndarray  # (N, V) d(grad_scale * loss)/dlogits
    workspace: Workspace  # where the arrays above live


def dropout_masks(cfg, rng, T, B, dtype=np.float32, shared=False):
    """(L, T, B, H) inverted-dropout masks (0 or 1/keep) for every layer's output,
    or None without dropout.  ``shared``: one mask for all T steps of a stream
    (variational dropout, Gal and Ghahramani), else a mask for every step."""
    if cfg.dropout == 0:
        return None
    keep = 1.0 - cfg.dropout
    draws = rng.random((cfg.layers, 1 if shared else T, B, cfg.hidden), dtype=np.float32)
    masks = (draws < keep).astype(dtype) / dtype(keep)
    return np.ascontiguousarray(np.broadcast_to(masks, (cfg.layers, T, B, cfg.hidden)))


def forward(
    params,
    cfg,
    inputs,
    targets,
    state0,
    masks=None,
    grad_scale=0.0,
    blocks=1,
    workspace=None,
    on_layer=None,
):
    """Loss over one chunk.

    inputs, targets (T, B) ids; state0 (L, S, B, H); masks (L, T, B, H) from
    dropout_masks, or None (evaluation).  With grad_scale > 0, keep what
    backward needs to give the gradient of grad_scale * loss.  Returns
    (summed loss over the T*B positions, final state (L, S, B, H), cache or
    None).  Buffers come from ``workspace``: the cache lasts until its next
    use.  Without grad_scale nothing is kept for backward: the layers take
    turns in one set of buffers (those of layer 0 in training).  ``blocks``:
    work blocks shared among the threads (threads.use_threads); results
    depend on it only through the order of floating-point sums.
    ``on_layer(l, sequences)``, if given, sees every step's state of each
    layer (S arrays (T+1, B, H)) before its buffers are reused.
    """
    ws = workspace or Workspace()
    cell = cells.get(cfg.cell)
    p = views(params, cfg)
    T, B = inputs.shape
    V, H = cfg.vocab_size, cfg.hidden
    dtype = params.dtype
    kept = ws.take("state0", state0.shape, dtype)
    kept[:] = state0
    cache = Cache(inputs, [], [], kept, masks, None, None, ws)
    state = np.empty_like(state0)
    x = inputs
    for l in range(cfg.layers):
        if l > 0:
            cache.layer_in.append(x)
        sequences = cell.forward(p, l, x, kept[l], ws, blocks, grad_scale > 0)
        if on_layer is not None:
            on_layer(l, sequences)
        for s, seq in enumerate(sequences):
            state[l, s] = seq[T]
        hiddens = sequences[0]
        x = hiddens[1:]
        if masks is not None:
            x = np.multiply(x, masks[l], out=ws.take(f"dropped{l}", (T, B, H), dtype))
        cache.hiddens.append(hiddens)
    decoder_in = x.reshape(T * B, H)
    logits = ws.take("logits", (T * B, V), dtype)
    logits[:] = p["b_y"]
    matmul(decoder_in, p["w_y"], logits, AS_IS, AS_IS, 1.0, blocks, ws)
    loss = softmax_cross_entropy(logits, np.ascontiguousarray(targets).reshape(-1), grad_scale)
    if grad_scale > 0:
        cache.decoder_in, cache.dlogits = decoder_in, logits
        return loss, state, cache
    return loss, state, None


def backward(params, cfg, cache, grads, blocks=1):
    """Write the gradient of grad_scale * loss into ``grads`` (flat, like params).

    Returns dstate0 (L, S, B, H): the gradient with respect to the carried-in
    state.  Uses up ``cache`` (gradients are written over it).
    """
    cell = cells.get(cfg.cell)
    p, g = views(params, cfg), views(grads, cfg)
    T, B = cache.inputs.shape
    H, N = cfg.hidden, T * B
    ws = cache.workspace
    cache.dlogits.sum(axis=0, out=g["b_y"])
    dx = ws.take("dx", (T, B, H), params.dtype)  # dL/d(output of the layer at hand)
    matmul_two(
        cache.decoder_in,
        cache.dlogits,
        g["w_y"],
        TRANSPOSED,
        AS_IS,
        cache.dlogits,
        p["w_y"],
        dx.reshape(N, H),
        AS_IS,
        TRANSPOSED,
        blocks,
        ws,
    )
    dstate0 = aligned_empty(cache.state0.shape, params.dtype)
    for l in reversed(range(cfg.layers)):
        if cache.masks is not None:
            dx *= cache.masks[l]
        cell.backward(p, g, l, dx, dstate0[l], cache.hiddens[l], ws, blocks)
        if l > 0:
            # The layer below's output is this layer's input: remade where
            # the cell shares its buffers (layers above it wrote over them).
            cell.replay(
                p, l - 1, cache.state0[l - 1], cache.hiddens[l - 1], l + 1 < cfg.layers, ws, blocks
            )
        x = cache.inputs if l == 0 else cache.layer_in[l - 1]
        cell.weight_grads(p, g, l, x, cache.hiddens[l], dx, ws, blocks)
    return dstate0


def loss_and_grad(params, cfg, inputs, targets, state, masks, grads, blocks=1, workspace=None):
    """Mean loss of the chunk; writes its gradient into ``grads``.
    Returns (mean loss, final state)."""
    scale = 1.0 / inputs.size
    loss, state_out, cache = forward(
        params, cfg, inputs, targets, state, masks, scale, blocks, workspace
    )
    backward(params, cfg, cache, grads, blocks)
    return loss * scale, state_out
