"""docs/api.md's examples, every one, in order, as a reader runs them: in a
directory that holds shakespeare.txt (a few hundred lines of Romeo and Juliet)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
PLAY = """ROMEO:
But soft, what light through yonder window breaks?
It is the east, and Juliet is the sun.
Arise, fair sun, and kill the envious moon.

JULIET:
O Romeo, Romeo! wherefore art thou Romeo?
Deny thy father and refuse thy name;
Or, if thou wilt not, be but sworn my love,
And I'll no longer be a Capulet.

"""


def examples():
    """The python code blocks of docs/api.md, in order."""
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.DOTALL | re.MULTILINE)


def test_every_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)  # the last example sets it
    (tmp_path / "shakespeare.txt").write_text(PLAY * 30, encoding="utf-8")
    blocks = examples()
    assert len(blocks) == 8
    namespace = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out
    for said in (
        "runs/small 40 steps",
        "['validation', 'validation', 'end']",
        "\n60\n",
        "runs/small/best.npz",
        "(15, 1, 64)",
        "runs/none.npz: no such checkpoint",
        "2 {'hidden': ",
    ):
        assert said in printed, said
