"""``charrnn sample``: its JSON (a seed, drawn or given, writes the same text),
and numbers it refuses."""

import json
import math

from command_helpers import TINY, fails, ok


SAMPLE_FIELDS = {
    "checkpoint",
    "text",
    "prime",
    "characters",
    "length",
    "temperature",
    "top_k",
    "greedy",
    "beam",
    "stop",
    "seed",
    "log_probability",
}


def test_sample_json(trained):
    run_dir, _ = trained
    best = run_dir / "best.npz"

    def sample(*args):
        return json.loads(ok(["sample", best, "--json", "--length", "60"] + list(args)).stdout)

    seeded = sample("--seed", "7")
    assert set(seeded) >= SAMPLE_FIELDS
    assert len(seeded["text"]) == seeded["characters"] == seeded["length"] == 60
    assert seeded["seed"] == 7 and seeded["log_probability"] is None
    assert sample("--seed", "7")["text"] == seeded["text"]

    drawn = sample()
    assert isinstance(drawn["seed"], int)
    assert sample("--seed", str(drawn["seed"]))["text"] == drawn["text"]

    beam = sample("--beam", "3")
    assert beam["beam"] == 3 and len(beam["text"]) == 60
    assert math.isfinite(beam["log_probability"]) and beam["log_probability"] < 0


def test_bad_numbers_for_sampling(tmp_path, corpus_file):
    out = tmp_path / "r"
    ok(["train", corpus_file, "--out", out, "--max-steps", 2, "--eval-every", 2] + TINY)
    for value in ["inf", "nan", "0"]:
        assert "--temperature" in fails(["sample", out / "best.npz", "-t", value]).output
