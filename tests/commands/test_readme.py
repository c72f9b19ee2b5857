"""The docs' promises to scripts: every JSON field docs/json.md documents is what
the commands print (no more, no fewer), and the README's "Scripting experiments"
script runs, twice in the same directory."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from charrnn.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"
JSON_DOC = README.parent / "docs" / "json.md"
TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "4", "--seq-length", "16", "--quiet"]


def documented_fields():
    """{heading of a "## `command --json`..." section of docs/json.md: the fields
    of its table}."""
    sections = {}
    for block in re.split(r"^## ", JSON_DOC.read_text(), flags=re.MULTILINE)[1:]:
        heading, _, body = block.partition("\n")
        if "--json" in heading:
            rows = re.findall(r"^\| `([a-z0-9_.]+)` \|", body.split("\n#")[0], re.MULTILINE)
            sections[heading.strip()] = set(rows)
    return sections


def fields_of(obj, documented, prefix=""):
    """The dotted names of ``obj``'s fields: a nested object is one field when it
    is documented as one, else its fields are."""
    names = set()
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict) and name not in documented:
            names |= fields_of(value, documented, name + ".")
        else:
            names.add(name)
    return names


def invoke(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result


def lines(result):
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, corpus_file):
    """{docs/json.md heading: the JSON objects the command printed}."""
    tmp = tmp_path_factory.mktemp("json")
    run_dir = tmp / "runs" / "a"
    train = invoke(
        [
            "train",
            str(corpus_file),
            "--out",
            str(run_dir),
            "--max-steps",
            "8",
            "--eval-every",
            "4",
            "--json",
        ]
        + TINY
    )
    assert train.exit_code == 0, train.output
    events = lines(train)
    diverged = invoke(
        [
            "train",
            str(corpus_file),
            "--out",
            str(tmp / "runs" / "b"),
            "--lr",
            "1e9",
            "--grad-clip",
            "0",
            "--max-steps",
            "200",
            "--eval-every",
            "1",
            "--json",
        ]
        + TINY
    )
    assert diverged.exit_code == 1
    events += lines(diverged)
    assert events[-1]["stopped"] == "divergence" and "diverged" in events[-1]["error"]
    best = str(run_dir / "best.npz")
    sample = lines(invoke(["sample", best, "-n", "20", "--json"]))
    sample += lines(invoke(["sample", best, "-n", "20", "--beam", "3", "--json"]))
    corpus = invoke(["corpus", "stdlib", "--size", "5000", "--out", str(tmp / "c.txt"), "--json"])
    sweep = subprocess.run(
        [
            sys.executable,
            "-m",
            "charrnn",
            "sweep",
            str(corpus_file),
            "--out",
            str(tmp / "sweep"),
            "--trials",
            "2",
            "--trial-steps",
            "4",
            "--reports",
            "2",
            "--param",
            "hidden=8,16",
            "--threads",
            "1",
            "--json",
        ]
        + TINY[2:-1],
        capture_output=True,
        text=True,
    )
    assert sweep.returncode == 0, sweep.stderr
    sweep = [json.loads(line) for line in sweep.stdout.splitlines()]
    return {
        "`sweep --json`: every trial that ends": [e for e in sweep if e["event"] == "trial"],
        "`sweep --json`: the end": [e for e in sweep if e["event"] == "end"],
        "`train --json`: after every validation run": [
            e for e in events if e["event"] == "validation"
        ],
        "`train --json`: the end": [e for e in events if e["event"] == "end"],
        "`sample --json`": sample,
        "`eval --json`": lines(invoke(["eval", best, str(corpus_file), "--json"])),
        "`runs --json`": lines(invoke(["runs", str(tmp / "runs"), "--json"]))[0],
        "`info --json`": lines(invoke(["info", best, "--json"])),
        "`corpus --json`": lines(corpus),
        "`viz --json`": lines(invoke(["viz", best, str(corpus_file), "--scan", "500", "--json"])),
        "`corpus --list --json`": lines(invoke(["corpus", "--list", "--json"]))[0],
    }


def test_every_documented_json_output_is_tested(outputs):
    assert set(documented_fields()) == set(outputs)


@pytest.mark.parametrize("heading", sorted(documented_fields()))
def test_json_fields_are_the_documented_ones(outputs, heading):
    documented = documented_fields()[heading]
    objects = outputs[heading]
    assert objects, f"{heading}: no output"
    for obj in objects:
        assert fields_of(obj, documented) == documented, heading


def test_the_scripting_example_runs_twice(tmp_path):
    """The script of "Scripting experiments", as it stands in the README, with a
    budget of a few steps: run twice in the same directory, each run makes its
    own runs and reads its own best checkpoint."""
    script = re.search(
        r"## Scripting experiments.*?```sh\n(.*?)```", README.read_text(), re.DOTALL
    ).group(1)
    env = dict(
        os.environ,
        BUDGET="--max-steps 6 --eval-every 3",
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )
    for attempt in (1, 2):
        before = set(tmp_path.iterdir())
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, f"run {attempt}: {result.stderr}"
        ends = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        assert [e["event"] for e in ends] == ["end"] * 3
        (experiment,) = set(tmp_path.iterdir()) - before  # the run's fresh directory
        runs = json.loads((experiment / "runs.json").read_text())
        assert sorted(r["hidden"] for r in runs) == [64, 128, 256]
        best = min(runs, key=lambda r: r["best_val_loss"])
        assert f"best: {best['best_checkpoint']}" in result.stderr
        sample = result.stdout.splitlines()[len(ends) :]
        assert len("\n".join(sample)) >= 300  # the sample, after the three end objects


def test_ci_runs_the_readmes_test_command():
    """.ci/run installs, then runs exactly what the README's quick start does after
    installing the test extras."""
    text = re.sub(r"\\\n\s*", "", README.read_text())  # a command continued over lines
    quick_start = re.search(r"pip install -e '\.\[test\]' && (.+)$", text, re.MULTILINE)
    quick_start = quick_start.group(1).strip()
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1].strip() == quick_start == "ruff check && ruff format --check && pytest"
