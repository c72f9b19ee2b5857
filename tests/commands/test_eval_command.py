"""``charrnn eval --unknown skip``: characters the model never saw, dropped and counted."""

import json

import pytest

from command_helpers import fails, last_line, ok


def test_eval_can_skip_characters_the_model_never_saw(tmp_path, trained):
    run_dir, ckpt = trained
    best = run_dir / "best.npz"
    clean = "First Citizen:\nSpeak, speak.\n\nAll:\nYou are all resolved.\n\n" * 4
    assert "Z" not in ckpt.vocab.index and "\u00e9" not in ckpt.vocab.index
    noisy = clean.replace("Speak", "SpeaZk").replace("All", "All\u00e9")
    skipped = noisy.count("Z") + noisy.count("\u00e9")
    assert skipped == 8
    (tmp_path / "noisy.txt").write_text(noisy, encoding="utf-8")
    (tmp_path / "clean.txt").write_text(clean, encoding="utf-8")

    message = last_line(fails(["eval", best, tmp_path / "noisy.txt"]))
    assert "'Z'" in message and "'\u00e9'" in message

    result = ok(["eval", best, tmp_path / "noisy.txt", "--unknown", "skip"])
    assert f"skipped {skipped} characters" in result.stderr
    report = json.loads(
        ok(["eval", best, tmp_path / "noisy.txt", "--unknown", "skip", "--json"]).stdout
    )
    expected = json.loads(ok(["eval", best, tmp_path / "clean.txt", "--json"]).stdout)
    assert report["skipped"] == skipped and expected["skipped"] == 0
    assert report["characters"] == expected["characters"] == len(clean) - 1
    assert report["loss"] == pytest.approx(expected["loss"], rel=1e-12)
