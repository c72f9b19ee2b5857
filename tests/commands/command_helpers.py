"""What the command tests share: a tiny model's options and running a command
through click's CliRunner, expecting success or a clean failure."""

import os
import re

from click.testing import CliRunner

from charrnn.cli import main


SMALL = ["--layers", "1", "--batch-size", "4", "--seq-length", "16", "--seed", "3"]
TINY = ["--hidden", "16"] + SMALL + ["--quiet"]
STEP_FILE = re.compile(r"^step(\d+)_val[\d.]+\.npz$")


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(args):
    result = run(args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def fails(args, code=1):
    """The result of a command that must fail with ``code``: a message, no traceback."""
    result = run(args)
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    return result


def last_line(result):
    return result.stderr.strip().splitlines()[-1]


def npz_bytes(directory):
    """{name: bytes} of the .npz files in ``directory``."""
    return {
        name: (directory / name).read_bytes()
        for name in sorted(os.listdir(directory))
        if name.endswith(".npz")
    }


def step_names(directory):
    return sorted(n for n in os.listdir(directory) if STEP_FILE.match(n))
