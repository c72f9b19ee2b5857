"""Shell completion (README "Shell completion"): click's protocol, and bash itself
running the script that `_CHARRNN_COMPLETE=bash_source charrnn` prints."""

import os
import shutil
import subprocess
import sys

import pytest

CHARRNN = [sys.executable, "-m", "charrnn"]


def complete(words, shell="bash"):
    """What charrnn answers the completion of the last word of ``words``, as
    (type, value) pairs."""
    env = dict(
        os.environ,
        _CHARRNN_COMPLETE=f"{shell}_complete",
        COMP_WORDS=" ".join(words),
        COMP_CWORD=str(len(words) - 1),
    )
    # ``python -m charrnn`` names itself charrnn: the variable is read the same way
    out = subprocess.run(CHARRNN, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [tuple(line.split(",", 1)) for line in out.stdout.splitlines()]


def test_commands():
    assert ("plain", "sample") in complete(["charrnn", "sa"])
    names = {value for _, value in complete(["charrnn", ""])}
    assert {"train", "sample", "eval", "runs", "info", "corpus"} <= names


def test_options_and_choices():
    assert ("plain", "--hidden") in complete(["charrnn", "train", "--hid"])
    assert ("plain", "--unknown") in complete(["charrnn", "eval", "--unk"])
    assert {v for _, v in complete(["charrnn", "train", "x.txt", "--cell", ""])} == {
        "lstm",
        "gru",
        "rnn",
        "mut1",
        "mut2",
        "mut3",
    }
    assert ("plain", "warpeace") in complete(["charrnn", "corpus", "w"])


@pytest.mark.parametrize(
    "words,kind",
    [
        (["charrnn", "sample", "checkpoints/r"], "file"),  # a checkpoint
        (["charrnn", "eval", "best.npz", "held"], "file"),  # the text to evaluate
        (["charrnn", "info", "ch"], "file"),
        (["charrnn", "train", "corp"], "file"),  # the corpus
        (["charrnn", "train", "c.txt", "--resume", "ch"], "file"),
        (["charrnn", "runs", "ch"], "dir"),
        (["charrnn", "train", "c.txt", "--out", "r"], "dir"),
    ],
)
def test_paths_are_left_to_the_shell(words, kind):
    """Paths complete as the shell's own file or directory completion."""
    assert complete(words) == [(kind, words[-1])]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
def test_bash_runs_the_completion_script():
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if shutil.which("charrnn", path=env["PATH"]) is None:
        pytest.skip("the charrnn command is not installed (pip install -e .)")
    script = """
eval "$(_CHARRNN_COMPLETE=bash_source charrnn)"
COMP_WORDS=(charrnn tr); COMP_CWORD=1; _charrnn_completion charrnn; echo "${COMPREPLY[@]}"
COMPREPLY=(); COMP_WORDS=(charrnn sample --te); COMP_CWORD=2
_charrnn_completion charrnn; echo "${COMPREPLY[@]}"
"""
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["train", "--temperature"]
