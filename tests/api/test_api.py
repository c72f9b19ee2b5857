"""The library (charrnn.train, load, list_runs, info) against the commands: the
same options and seed give the same weights and the same text; importing
charrnn loads no Numba and changes no process setting; bad input is one
CharrnnError, with an end event for a run that never started."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import charrnn
from charrnn.checkpoint import load
from charrnn.cli import main

TINY = dict(hidden=16, layers=1, batch_size=4, seq_length=16, seed=3, max_steps=8, eval_every=4)


def command(args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def options_of(tiny):
    return [
        item for name, value in tiny.items() for item in (charrnn.config.option_name(name), value)
    ]


def test_train_gives_the_weights_the_command_gives(tmp_path, corpus_file):
    events = []
    run = charrnn.train(
        str(corpus_file), out=str(tmp_path / "api"), quiet=True, on_event=events.append, **TINY
    )
    command(["train", corpus_file, "--out", tmp_path / "cli", "--quiet"] + options_of(TINY))
    ours, theirs = load(run.last_checkpoint), load(str(tmp_path / "cli" / "last.npz"))
    np.testing.assert_array_equal(ours.params, theirs.params)
    assert (run.directory, run.steps, run.stopped) == (str(tmp_path / "api"), 8, "steps")
    assert run.best_val_loss == pytest.approx(ours.best_val)
    assert run.train_history.shape == (8, 2) and run.val_history[:, 0].tolist() == [4, 8]
    assert [e["event"] for e in events] == ["validation", "validation", "end"]
    assert run.load().path == run.best_checkpoint


def test_resume_continues_with_the_runs_own_options(tmp_path, corpus_file):
    out = str(tmp_path / "run")
    charrnn.train(str(corpus_file), out=out, quiet=True, **TINY)
    more = charrnn.train(str(corpus_file), out=out, resume=True, max_steps=12, quiet=True)
    assert more.steps == 12
    assert load(more.last_checkpoint).model.hidden == TINY["hidden"]
    assert load(more.last_checkpoint).train_config["eval_every"] == TINY["eval_every"]


def test_a_refused_run_raises_and_still_ends(tmp_path, corpus_file):
    events = []
    with pytest.raises(charrnn.CharrnnError, match="--max-steps"):
        charrnn.train(
            str(corpus_file),
            out=str(tmp_path / "r"),
            on_event=events.append,
            **{**TINY, "max_steps": 0},
        )
    assert [e["event"] for e in events] == ["end"] and events[0]["stopped"] == "error"
    with pytest.raises(charrnn.CharrnnError, match="no option 'hiden'"):
        charrnn.train(str(corpus_file), hiden=16)


def test_the_model_samples_scores_and_shows_what_the_commands_do(trained, corpus_file):
    run_dir, _ = trained
    best = str(run_dir / "best.npz")
    model = charrnn.load(str(run_dir))
    assert model.path == best
    printed = json.loads(command(["sample", best, "-n", 80, "--seed", 5, "-t", 0.7, "--json"]))
    assert model.sample(80, temperature=0.7, seed=5) == printed["text"]
    assert "".join(model.stream(80, temperature=0.7, seed=5)) == printed["text"]
    printed = json.loads(command(["sample", best, "-n", 40, "--beam", 3, "--json"]))
    found = model.beam(40, width=3)
    assert (found.text, found.log_probability) == (printed["text"], printed["log_probability"])
    text = corpus_file.read_text(encoding="utf-8")
    scored = json.loads(command(["eval", best, corpus_file, "--json"]))
    loss = model.loss(text)
    assert (loss.loss, loss.characters) == (scored["loss"], scored["characters"])
    assert loss.bits_per_char == scored["bits_per_char"]
    shown = command(["viz", best, corpus_file, "--layer", 1, "--unit", 7, "-n", 50])
    values = [float(line.split()[-1]) for line in shown.splitlines()[1:]]
    np.testing.assert_allclose(model.states(text[:50])[:, 1, 7], values, atol=5e-4)


def test_runs_and_info_are_what_the_commands_print(trained):
    run_dir, _ = trained
    root = str(run_dir.parent)
    assert charrnn.list_runs(root) == json.loads(command(["runs", root, "--json"]))
    best = str(run_dir / "best.npz")
    assert charrnn.info(best) == json.loads(command(["info", best, "--json"]))


def test_bad_input_is_a_charrnn_error(tmp_path, trained):
    run_dir, _ = trained
    model = charrnn.load(str(run_dir / "best.npz"))
    with pytest.raises(charrnn.CharrnnError, match="never saw"):
        model.loss("\u00e9t\u00e9")
    with pytest.raises(charrnn.CharrnnError, match="--temperature"):
        model.sample(10, temperature=0)
    with pytest.raises(charrnn.CharrnnError, match="no such checkpoint"):
        charrnn.load(str(tmp_path / "none.npz"))
    with pytest.raises(charrnn.CharrnnError, match="no such directory"):
        charrnn.list_runs(str(tmp_path / "none"))


def test_the_verbs_keep_their_names_when_their_modules_load():
    import charrnn.info
    import charrnn.train  # noqa: F401  (the modules of the same names)

    assert charrnn.train is charrnn.api.train and charrnn.info is charrnn.api.info
    assert sys.modules["charrnn.train"].train is not charrnn.train


def test_importing_charrnn_loads_no_numba_and_sets_nothing():
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    probe = (
        "import os, sys, charrnn\n"
        "assert 'numba' not in sys.modules, 'numba'\n"
        "assert 'GOMP_SPINCOUNT' not in os.environ\n"
        "import charrnn.cli\n"
        "sys.argv = ['charrnn', 'train', '--help']\n"
        "try:\n    charrnn.cli.main()\nexcept SystemExit:\n    pass\n"
        "assert 'numba' not in sys.modules, 'numba for --help'\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
