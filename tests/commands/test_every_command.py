"""Every command of ``charrnn`` through CliRunner: its --help (with an example),
and a bad input, refused in one line (exit 1, no traceback).  A command added
to the group without a bad input here fails the test."""

import pytest

from charrnn.cli import main
from command_helpers import run


def bad_inputs(tmp_path, corpus_file):
    """{command: (arguments with a bad input, what the error says)}."""
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    (tmp_path / "no-runs").mkdir()
    missing = tmp_path / "missing.npz"
    return {
        "train": ([empty, "--out", tmp_path / "run"], "empty"),
        "sample": ([missing], "no such checkpoint"),
        "eval": ([missing, corpus_file], "no such checkpoint"),
        "runs": ([tmp_path / "nowhere"], "no such directory"),
        "info": ([tmp_path], "no best.npz"),
        "corpus": (
            ["warpeace", "--url", corpus_file.as_uri(), "--out", tmp_path / "w.txt"],
            "SHA-256",
        ),
        "export": ([corpus_file, tmp_path / "out.safetensors"], "not an .npz file"),
        "plot": ([tmp_path / "no-runs"], "no last.npz or best.npz"),
        "sweep": ([corpus_file, "--param", "hidden", "--out", tmp_path / "sweep"], "hidden"),
        "viz": ([missing, corpus_file], "no such checkpoint"),
    }


@pytest.mark.parametrize("name", sorted(main.commands))
def test_help_shows_an_example(name):
    result = run([name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: main {name}") and "Example" in result.stdout


def test_the_group_help_lists_every_command():
    result = run(["--help"])
    assert result.exit_code == 0
    assert all(f"  {name} " in result.stdout for name in main.commands)


@pytest.mark.parametrize("name", sorted(main.commands))
def test_a_bad_input_is_one_line(name, tmp_path, corpus_file):
    inputs = bad_inputs(tmp_path, corpus_file)
    assert set(inputs) == set(main.commands)  # every command has its bad input here
    args, message = inputs[name]
    result = run([name] + args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
