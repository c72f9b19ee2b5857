"""A checkpoint's weights for other programs: ``charrnn export`` writes them as
safetensors, under PyTorch's names, shapes and gate order where PyTorch has a
module with the same equations (the LSTM as ``nn.LSTM``, the vanilla RNN as
``nn.RNN``), under charrnn's own names otherwise (the GRU resets before W_h,
PyTorch's after; the MUTs have no PyTorch module).

The recurrent module is ``rnn`` and the decoder ``decoder`` (an ``nn.Linear``),
so that a module with those two attributes loads the file with
``load_state_dict``.  Layer 0's input weights are the weights of a one-hot
input over the vocabulary: charrnn's row per character, transposed.  charrnn
has one bias per gate where PyTorch has two; ``bias_hh`` is zero.
"""

import json

import numpy as np

from . import cells, files
from .model import views

FORMAT = "charrnn-export-1"


def tensors(ckpt):
    """({name: float32 array}, {metadata: str}) of the checkpoint's model."""
    m = ckpt.model
    p = views(ckpt.params, m)
    H, V = m.hidden, m.vocab_size
    torch = cells.get(m.cell).TORCH  # the cell's torch.nn twin, or None
    out = {}
    if torch is None:
        out = {name: value for name, value in p.items() if name not in ("w_y", "b_y")}
    else:
        n_gates = len(torch.blocks)
        # PyTorch's order as columns of charrnn's
        order = np.concatenate([np.arange(k * H, (k + 1) * H) for k in torch.blocks])
        for l in range(m.layers):
            w, b = p[f"w{l}"], p[f"b{l}"]
            d_in = V if l == 0 else H
            out[f"rnn.weight_ih_l{l}"] = w[:d_in, order].T
            out[f"rnn.weight_hh_l{l}"] = w[d_in:, order].T
            out[f"rnn.bias_ih_l{l}"] = b[order]
            out[f"rnn.bias_hh_l{l}"] = np.zeros(n_gates * H, np.float32)
    out["decoder.weight"] = p["w_y"].T
    out["decoder.bias"] = p["b_y"]
    out = {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}
    metadata = {
        "format": FORMAT,
        "cell": m.cell,
        "pytorch_module": torch.name if torch else "none",
        "gate_order": torch.gate_order if torch else "",
        "layers": str(m.layers),
        "hidden": str(m.hidden),
        "vocab_size": str(V),
        "vocabulary": files.escape_surrogates(json.dumps(ckpt.vocab.chars, ensure_ascii=False)),
        "input": "one-hot over the vocabulary (id = position in it)",
        "charrnn_version": ckpt.charrnn_version,
    }
    return out, metadata


def write(ckpt, path):
    """Write the checkpoint's weights to ``path`` (safetensors); returns the metadata."""
    from safetensors.numpy import save  # the optional extra charrnn[export]

    arrays, metadata = tensors(ckpt)
    files.write_atomically(path, lambda f: f.write(save(arrays, metadata=metadata)))
    return metadata
