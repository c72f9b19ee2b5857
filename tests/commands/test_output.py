"""What the commands write: a lone surrogate in a model's vocabulary (a
corpus read with --encoding unicode_escape) escaped wherever text is written
as UTF-8, and a standard output that cannot be written (a full disk) a
one-line error."""

import json
import sys

import click
import pytest

from charrnn.cli import main
from charrnn.train import TrainConfig, train

from command_helpers import ok

SURROGATE = "\ud800"


@pytest.fixture(scope="module")
def surrogate_run(tmp_path_factory):
    """(run directory, corpus) of a tiny model whose vocabulary holds a lone surrogate."""
    root = tmp_path_factory.mktemp("surrogate")
    corpus = root / "escaped.txt"
    corpus.write_text("plain text and an escape \\ud800 in it\n" * 40, encoding="ascii")
    cfg = TrainConfig(
        hidden=16, layers=1, batch_size=4, seq_length=16, max_steps=2, eval_every=2,
        encoding="unicode_escape",
    )  # fmt: skip
    train(str(corpus), cfg, str(root / "run"), quiet=True, log=lambda m: None)
    return root / "run", corpus


def test_sample_escapes_a_surrogate(surrogate_run):
    out, _ = surrogate_run
    text = ok(["sample", out / "best.npz", "-n", "5", "--prime", SURROGATE]).stdout
    assert text.startswith("\\ud800")
    found = json.loads(
        ok(["sample", out / "best.npz", "-n", "5", "--prime", SURROGATE, "--json"]).stdout
    )
    assert found["prime"] == SURROGATE  # the JSON escape is the character again


def test_info_json_holds_the_vocabulary_exactly(surrogate_run):
    out, _ = surrogate_run
    facts = json.loads(ok(["info", out / "best.npz", "--json"]).stdout)
    assert facts["vocabulary"].endswith(SURROGATE)


def test_export_metadata_holds_the_vocabulary_exactly(surrogate_run, tmp_path):
    safetensors = pytest.importorskip("safetensors")
    out, _ = surrogate_run
    ok(["export", out / "best.npz", tmp_path / "model.safetensors"])
    with safetensors.safe_open(str(tmp_path / "model.safetensors"), "np") as f:
        assert json.loads(f.metadata()["vocabulary"]).endswith(SURROGATE)


def test_viz_writes_its_page(surrogate_run, tmp_path):
    out, corpus = surrogate_run
    page = tmp_path / "page.html"
    args = ["viz", out / "best.npz", corpus, "--encoding", "unicode_escape", "--unit", "0"]
    ok(args + ["-n", "60", "--html", page])
    assert "\\ud800" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_a_full_standard_output_is_a_one_line_error(trained, monkeypatch, as_json):
    out, _ = trained
    with open("/dev/full", "w") as full:  # every write: ENOSPC, as on a full disk
        monkeypatch.setattr(sys, "stdout", full)
        with pytest.raises(click.ClickException) as refused:
            main(["sample", str(out / "best.npz"), "-n", "50"] + as_json, standalone_mode=False)
    message = refused.value.format_message()
    assert message == "cannot write to the standard output (No space left on device)"
