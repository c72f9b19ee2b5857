"""``charrnn export``: the weights under PyTorch's names for the LSTM and the RNN
(PyTorch's loss over a text equals ``charrnn eval``'s), charrnn's own names for
the other cells, docs/commands.md's loading snippet, the missing extra."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from charrnn import cells
from charrnn.cells import CELLS
from charrnn.checkpoint import Checkpoint, save
from charrnn.cli import main
from charrnn.extras import install_command
from charrnn.data.corpus import Vocabulary
from charrnn.evaluate import stream_loss
from charrnn.model import ModelConfig, init_params, views

pytest.importorskip("safetensors", reason="the export extra (safetensors) is not installed")
from safetensors import safe_open  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

COMMANDS_DOC = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
TEXT = "The quick brown fox jumps over the lazy dog.\n(And then: 'it sleeps'.)\n" * 6


def checkpoint(cell, layers=2, hidden=12, seed=0):
    chars = "".join(sorted(set(TEXT)))
    cfg = ModelConfig(vocab_size=len(chars), hidden=hidden, layers=layers, cell=cell)
    params = init_params(cfg, np.random.default_rng(seed)) * np.float32(2.5)
    return Checkpoint(model=cfg, vocab=Vocabulary(chars), params=params)


def export(tmp_path, ckpt, name="m"):
    path = tmp_path / f"{name}.npz"
    save(str(path), ckpt)
    out = tmp_path / f"{name}.safetensors"
    result = CliRunner().invoke(main, ["export", str(path), str(out)])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.mark.parametrize("cell", list(CELLS))
def test_every_cell_exports_with_its_vocabulary(tmp_path, cell):
    ckpt = checkpoint(cell)
    out, result = export(tmp_path, ckpt)
    with safe_open(str(out), "np") as f:
        meta = f.metadata()
    assert json.loads(meta["vocabulary"]) == ckpt.vocab.chars and meta["cell"] == cell
    tensors = load_file(str(out))
    p = views(ckpt.params, ckpt.model)
    np.testing.assert_array_equal(tensors["decoder.weight"], p["w_y"].T)
    total = sum(v.size for k, v in tensors.items() if not k.startswith("rnn.bias_hh"))
    assert total == ckpt.params.size  # every weight, once (PyTorch's second bias aside)
    if cells.get(cell).TORCH is not None:
        assert meta["pytorch_module"] == cell.upper() and "nn." in result.stderr
    else:  # charrnn's names, said so
        assert meta["pytorch_module"] == "none" and "own names" in result.stderr
        for name in p:
            if name not in ("w_y", "b_y"):
                np.testing.assert_array_equal(tensors[name], p[name])


def test_without_the_extra_it_says_which_to_install(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save(str(path), checkpoint("lstm"))
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import fails
    result = CliRunner().invoke(main, ["export", str(path), str(tmp_path / "m.safetensors")])
    assert result.exit_code == 1 and install_command("export") in result.output


def torch_loss(torch, out, ids, module):
    """Mean loss over ids read as one stream, by PyTorch modules loaded from ``out``."""
    from safetensors.torch import load_file as load_torch

    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    V, H, L = int(meta["vocab_size"]), int(meta["hidden"]), int(meta["layers"])
    model = torch.nn.Module()
    model.rnn = getattr(torch.nn, module)(V, H, L)
    model.decoder = torch.nn.Linear(H, V)
    model.load_state_dict(load_torch(str(out)))
    x = torch.nn.functional.one_hot(torch.tensor(ids[:-1])[:, None], V).float()
    with torch.no_grad():
        hidden, _ = model.rnn(x)
        logits = model.decoder(hidden[:, 0])
        return torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:])).item()


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("lstm", 3), ("rnn", 2)])
def test_pytorch_loss_equals_charrnn_eval(tmp_path, cell, layers):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    ckpt = checkpoint(cell, layers=layers, hidden=16, seed=layers)
    out, _ = export(tmp_path, ckpt)
    ids = ckpt.vocab.encode(TEXT).astype(np.int64)
    total, count = stream_loss(ckpt.params, ckpt.model, ids)
    assert torch_loss(torch, out, ids, cell.upper()) == pytest.approx(total / count, abs=1e-4)


def test_the_readme_snippet_loads_and_samples(tmp_path, trained):
    pytest.importorskip("torch", reason="PyTorch is not installed")
    run_dir, _ = trained
    out = tmp_path / "shakespeare.safetensors"
    result = CliRunner().invoke(main, ["export", str(run_dir / "best.npz"), str(out)])
    assert result.exit_code == 0, result.output
    snippet = re.search(
        r"## `charrnn export.*?```python\n(.*?)```", COMMANDS_DOC.read_text(), re.DOTALL
    ).group(1)
    namespace = {}
    exec(snippet.replace('"shakespeare.safetensors"', repr(str(out))), namespace)
    text, chars = namespace["text"], namespace["chars"]
    assert len(text) == 500 and set(text) <= set(chars)
