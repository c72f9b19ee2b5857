"""``charrnn info``: what a checkpoint holds, as JSON and text; its errors; a
version-1 checkpoint."""

import hashlib
import json
import re
from pathlib import Path

from charrnn.checkpoint import load
from command_helpers import fails, ok


def test_info_reports_what_the_checkpoint_holds(trained, corpus_file):
    run_dir, _ = trained
    path = run_dir / "last.npz"
    ckpt = load(str(path))
    facts = json.loads(ok(["info", path, "--json"]).stdout)
    assert {"model", "training", "corpus", "vocabulary", "position", "histories"} <= set(facts)
    assert facts["format_version"] == 2
    assert facts["model"]["cell"] == ckpt.model.cell == "lstm"
    assert (facts["model"]["layers"], facts["model"]["hidden"]) == (2, 16)
    assert facts["model"]["vocab_size"] == ckpt.model.vocab_size == len(ckpt.vocab)
    assert facts["model"]["parameters"] == ckpt.params.size
    assert facts["training"]["hidden"] == 16 and facts["training"]["eval_every"] == 15
    text = corpus_file.read_text(encoding="utf-8")
    assert facts["corpus"]["sha256"] == hashlib.sha256(corpus_file.read_bytes()).hexdigest()
    assert facts["corpus"]["characters"] == len(text)
    assert facts["corpus"]["path"] == str(corpus_file)
    assert facts["vocabulary"] == ckpt.vocab.chars
    position = facts["position"]
    assert (position["step"], position["batch_index"]) == (
        ckpt.step,
        ckpt.batch_index,
    ) and ckpt.step == 30
    assert position["lr"] == ckpt.lr and position["train_chars"] == ckpt.chars
    for name, history in (("train", ckpt.train_history), ("val", ckpt.val_history)):
        h = facts["histories"][name]
        assert h["rows"] == len(history)
        assert h["first"] == {"step": int(history[0, 0]), "loss": history[0, 1]}
        assert h["last"] == {"step": int(history[-1, 0]), "loss": history[-1, 1]}
        assert h["best"]["loss"] == history[:, 1].min()
    assert facts["best_val_loss"] == ckpt.best_val
    assert facts["file_bytes"] == path.stat().st_size

    out = ok(["info", path]).stdout
    assert "2x16 LSTM" in out and f"{ckpt.params.size:,} parameters" in out
    assert f"vocabulary {len(ckpt.vocab)}" in out and repr(ckpt.vocab.chars) in out
    assert "step 30" in out
    assert re.search(r"^train loss  first [\d.]+ \(step 1\)", out, re.M)
    assert re.search(r"^val loss    first [\d.]+ \(step 15\).*; 2 rows$", out, re.M)


def test_info_errors(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not a checkpoint")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a checkpoint")
    for target, words in (
        (tmp_path, "no best.npz"),  # a directory holding no run (a run's: its best.npz)
        (tmp_path / "none.npz", "no such"),
        (garbage, "garbage.npz"),
        (notes, "not an .npz file"),
    ):
        result = fails(["info", target])
        assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr


def test_info_on_a_version_1_checkpoint():
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "v1" / "run" / "best.npz"
    facts = json.loads(ok(["info", fixture, "--json"]).stdout)
    assert facts["format_version"] == 1 and facts["model"]["cell"] == "lstm"
    assert facts["charrnn_version"] == "1.0" and facts["corpus"]["sha256"] is None
    assert "format 1" in ok(["info", fixture]).stdout
