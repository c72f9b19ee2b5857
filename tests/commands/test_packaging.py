"""A non-editable install (a wheel) carries every subpackage and runs."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_every_module_and_runs(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("charrnn-*.whl"))
    sources = {str(p.relative_to(ROOT)) for p in (ROOT / "charrnn").rglob("*.py")}
    with zipfile.ZipFile(wheel) as z:
        assert sources <= set(z.namelist()), sources - set(z.namelist())
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    # From a directory where the source tree is not importable: the wheel's copy runs.
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = (
        "import charrnn, charrnn.cells as c, charrnn.model as m; "
        "assert charrnn.__file__.startswith(%r); "
        "[c.get(name) for name in c.CELLS]; "
        "print(m.param_count(m.ModelConfig(65, 512, 2, cell='gru')))" % str(target)
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == str((65 + 512) * 1536 + 1536 + (512 + 512) * 1536 + 1536 + 512 * 65 + 65)
    help_text = subprocess.run(
        [sys.executable, "-m", "charrnn", "train", "--help"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "mut3" in help_text
