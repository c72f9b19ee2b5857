"""The conventions every command keeps (issue 29): a CHECKPOINT is a file or a
run directory; no output path named on the command line is replaced without
--force; options that exclude each other, or that do nothing given another,
are a usage error naming both; JSON reports only the settings that took
effect; an error about a fixable input names the fix; every option has help."""

import json
import shutil

import click
import pytest

from charrnn.checkpoint import load
from charrnn.cli import main
from charrnn.sweep.space import SEARCHABLE
from command_helpers import fails, ok, run

READERS = ("sample", "eval", "info", "viz", "export")


def args_of(template, paths):
    """``template`` with its placeholders (BEST, RUN, TEXT, TMP...) as ``paths`` has them."""
    return [str(paths.get(a, a)) for a in template]


@pytest.fixture
def paths(tmp_path, trained, corpus_file):
    run_dir, _ = trained
    return {
        "RUN": run_dir,
        "BEST": run_dir / "best.npz",
        "TEXT": corpus_file,
        "TMP": tmp_path,
        "OUT": tmp_path / "out",
        "COPY": shutil.copytree(run_dir, tmp_path / "run"),  # a run that may be resumed
    }


def reading(name, target, paths):
    """The arguments of the command ``name`` reading the checkpoint ``target``, quickly."""
    return {
        "sample": ["sample", target, "-n", "5", "--seed", "1"],
        "eval": ["eval", target, paths["TEXT"]],
        "info": ["info", target],
        "viz": ["viz", target, paths["TEXT"], "--unit", "0", "-n", "20"],
        "export": ["export", target, paths["TMP"] / "m.safetensors"],
    }[name]


# --- a CHECKPOINT is a file or a run directory --------------------------------


def test_every_checkpoint_argument_is_one_type():
    from charrnn.commands.options import CheckpointPath

    types = {
        (name, p.name): p.type
        for name, command in main.commands.items()
        for p in command.params
        if p.name == "checkpoint" or (name, p.name) == ("train", "resume")
    }  # (sweep --resume takes a sweep's directory)
    assert all(isinstance(t, CheckpointPath) for t in types.values()), types
    assert {key: t.file_name for key, t in types.items()} == {
        **{(name, "checkpoint"): "best.npz" for name in READERS},
        ("train", "resume"): "last.npz",
    }


@pytest.mark.parametrize("name", READERS)
def test_a_run_directory_means_its_best_checkpoint(name, paths):
    result = ok(reading(name, paths["RUN"], paths))
    assert f"using {paths['BEST']}" in result.stderr


@pytest.mark.parametrize("name", READERS)
def test_a_run_directory_without_best_npz_names_it(name, paths):
    partial = paths["TMP"] / "partial"
    partial.mkdir()
    shutil.copy(paths["RUN"] / "last.npz", partial)
    result = fails(reading(name, partial, paths))
    assert result.stderr.strip() == (
        f"Error: {partial}: no best.npz in this run directory (it holds last.npz: name one of them)"
    )


def test_resume_takes_a_run_directory_for_its_last_checkpoint(paths):
    copy = paths["COPY"]
    ok(["train", paths["TEXT"], "--resume", copy, "--max-steps", "31", "--quiet"])
    assert load(str(copy / "last.npz"), weights=False).step == 31
    (copy / "last.npz").unlink()
    result = fails(["train", paths["TEXT"], "--resume", copy, "--max-steps", "32"])
    assert f"{copy}: no last.npz in this run directory (it holds best.npz" in result.stderr


# --- no output path is replaced without --force --------------------------------

OUTPUTS = {
    "export": ["export", "BEST", "OUT"],
    "viz": ["viz", "BEST", "TEXT", "--unit", "0", "-n", "20", "--html", "OUT"],
    "plot": ["plot", "RUN", "--png", "OUT"],
    "corpus": ["corpus", "stdlib", "--size", "5000", "--out", "OUT"],
}


def test_every_command_that_writes_a_named_path_has_force():
    forced = {name for name, c in main.commands.items() if any(p.name == "force" for p in c.params)}
    assert forced == set(OUTPUTS) | {"train"}  # train: its run directory, as before


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_an_existing_output_is_replaced_only_with_force(name, paths):
    out = paths["OUT"]
    out.write_text("keep me")
    result = fails(args_of(OUTPUTS[name], paths))
    assert result.stderr.strip() == (
        f"Error: {out} exists; give --force to replace it, or name another file"
    )
    assert out.read_text() == "keep me"
    ok(args_of(OUTPUTS[name], paths) + ["--force"])
    assert out.read_bytes() != b"keep me"


# --- options that exclude each other: a usage error naming both ----------------

CONFLICTS = [
    (["sample", "BEST", "--beam", "7", "-t", "0.5"], "--beam", "--temperature"),
    (["sample", "BEST", "--beam", "7", "--top-k", "3"], "--beam", "--top-k"),
    (["sample", "BEST", "--beam", "7", "--greedy"], "--beam", "--greedy"),
    (["sample", "BEST", "--greedy", "-t", "0.5"], "--greedy", "--temperature"),
    (["sample", "BEST", "--greedy", "--top-k", "3"], "--greedy", "--top-k"),
    (["viz", "BEST", "TEXT", "--find", "--unit", "1"], "--find", "--unit"),
    (["viz", "BEST", "TEXT", "--unit", "1", "--json"], "--unit", "--json"),
    (["viz", "BEST", "TEXT", "--unit", "1", "--scan", "500"], "--unit", "--scan"),
    (["viz", "BEST", "TEXT", "--unit", "1", "--top", "2"], "--unit", "--top"),
    (["viz", "BEST", "TEXT", "--layer", "0", "--find"], "--layer", "--find"),
    (["plot", "RUN", "--png", "OUT", "--height", "10"], "--png", "--height"),
    (["corpus", "--list", "stdlib"], "--list", "NAME"),
    (["corpus", "--list", "--out", "OUT"], "--list", "--out"),
    (["corpus", "stdlib", "--url", "file:///x", "--source", "TMP"], "--url", "--source"),
    (["corpus", "stdlib", "--url", "file:///x", "--out", "OUT"], "--url", "stdlib"),
    (
        ["train", "TEXT", "--out", "OUT", "--weight-decay", "0.1", "--optimizer", "sgd"],
        "--weight-decay",
        "--optimizer",
    ),
    (
        ["train", "TEXT", "--out", "OUT", "--lr-decay", "0.9", "--schedule", "cosine"],
        "--lr-decay",
        "--schedule",
    ),
    (
        ["sweep", "TEXT", "--param", "hidden=8,16", "--trial-time", "1m", "--trial-steps", "5"]
        + ["--out", "OUT"],
        "--trial-time",
        "--trial-steps",
    ),
    (
        ["sweep", "TEXT", "--param", "hidden=8,16", "--hidden", "8", "--out", "OUT"],
        "--hidden",
        "--param",
    ),
    (["sweep", "--resume", "TMP", "--hidden", "8"], "--resume", "--hidden"),
]


@pytest.mark.parametrize(
    "template,first,second", CONFLICTS, ids=[" ".join([c[0][0], *c[1:]]) for c in CONFLICTS]
)
def test_options_that_exclude_each_other_are_a_usage_error(template, first, second, paths):
    result = fails(args_of(template, paths), code=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and first in lines[0] and second in lines[0], lines
    assert not paths["OUT"].exists()  # refused before anything was written


def sample_json(paths, *options):
    return json.loads(ok(["sample", paths["BEST"], "-n", "10", "--json", *options]).stdout)


def test_sample_json_reports_only_the_settings_that_took_effect(paths):
    sampled = sample_json(paths, "--seed", "4", "-t", "0.5")
    assert (sampled["seed"], sampled["temperature"], sampled["top_k"]) == (4, 0.5, 0)
    assert isinstance(sample_json(paths)["seed"], int)  # drawn, and reported to sample again
    # the vocabulary has a newline to start after: neither draws a random number
    for options in (["--beam", "3"], ["--greedy"], ["--beam", "3", "--seed", "4"]):
        found = sample_json(paths, *options)
        assert (found["seed"], found["temperature"], found["top_k"]) == (None, None, None)


# --- an error about a fixable input names the fix -------------------------------


@pytest.mark.parametrize(
    "template,fix",
    [
        (["eval", "BEST", "ODD"], "--unknown skip drops them"),
        (["eval", "BEST", "TEXT", "--encoding", "nope"], "--encoding takes a text encoding"),
        (["sample", "BEST", "--prime", "€"], "leave them out of the prime"),
        (["viz", "BEST", "TEXT", "--layer", "0"], "give --unit too (0..15)"),
        (["train", "TEXT", "--resume", "COPY", "--hidden", "32"], "leave it out"),
    ],
)
def test_an_error_about_a_fixable_input_names_the_fix(template, fix, paths):
    odd = paths["TMP"] / "odd.txt"
    odd.write_text("First Citizen: €\n" * 20)
    result = fails(args_of(template, {**paths, "ODD": odd}))
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and fix in errors[0], result.stderr


# --- help ---------------------------------------------------------------------


def test_every_command_and_option_has_help():
    missing = [
        f"{name} {p.opts[0]}"
        for name, command in main.commands.items()
        for p in command.params
        if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    missing += [name for name, c in main.commands.items() if not (c.help and c.short_help)]
    assert missing == []


def test_the_group_help_has_whole_summaries_and_examples():
    out = ok(["--help"]).stdout
    assert "\nExamples:\n" in out.replace("  Examples:", "Examples:")
    summaries = out.split("Commands:\n")[1].split("\n\n")[0]
    assert "..." not in summaries  # not cut
    for name, command in main.commands.items():
        assert f"  {name}  " in summaries and command.short_help in " ".join(summaries.split())


def test_sweep_help_lists_what_param_searches():
    (param,) = [p for p in main.commands["sweep"].params if p.name == "params"]
    assert all(name.replace("_", "-") in param.help for name in SEARCHABLE)
    assert "NAME is one of: cell, hidden" in run(["sweep", "--help"]).stdout
