"""Two versions of charrnn side by side: training, sampling and beam search
speed, the versions alternated in one run (the machine's noise falls on both).

    python bench/versions.py BEFORE_DIR AFTER_DIR [--configs 2x128,2x512] [--rounds 5]
        [--tasks train,sample,beam]

Each directory is a source tree of charrnn (e.g. a `git worktree` of an older
commit).  Every measurement runs in a fresh process with that tree first on
the path; training speed is `train --json`'s chars_per_second (compilation
excluded), generation is timed after a warm-up, over about a second.  Prints, per task and model,
the median characters per second of each version, the spread (max/min - 1
over the rounds) and the ratio after/before.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TRAIN_STEPS = {128: 120, 512: 30}
GENERATE = r"""
import json, sys, time
from charrnn.checkpoint import load
from charrnn.sample import beam_text, sample_text
ckpt = load(sys.argv[1])
task, n = sys.argv[2], int(sys.argv[3])
def run(length):
    if task == "sample":
        return "".join(sample_text(ckpt, length, seed=1, precision="float32"))
    return beam_text(ckpt, length, 7, seed=1, precision="float32")[0]
run(20)  # compile, or load from the cache
started = time.perf_counter()
run(n)
first = time.perf_counter() - started
n = max(n, int(n * 1.0 / first))  # a second of work: shorter runs are noise
started = time.perf_counter()
run(n)
print(json.dumps(n / (time.perf_counter() - started)))
"""


def corpus(directory):
    """tiny-shakespeare beside the project if present, else a text made here."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "tinyshakespeare.txt"
    if shared.exists():
        return shared
    path = Path(directory) / "corpus.txt"
    words = "the king and queen of the land spoke to their people about bread".split()
    path.write_text(" ".join(words[(i * 7) % len(words)] for i in range(200_000)))
    return path


def in_version(tree, *args):
    """stdout of ``python args`` with ``tree`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, *map(str, args)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{tree}: {' '.join(map(str, args))} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def train_speed(tree, text, layers, hidden, out):
    """Training characters per second, and the checkpoint written."""
    steps = TRAIN_STEPS.get(hidden, 30)
    output = in_version(
        tree,
        "-m",
        "charrnn",
        "train",
        text,
        "--layers",
        layers,
        "--hidden",
        hidden,
        "--max-steps",
        steps,
        "--eval-every",
        steps,
        "--threads",
        2,
        "--seed",
        1,
        "--json",
        "--quiet",
        "--force",
        "--out",
        out,
    )
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return next(e["chars_per_second"] for e in events if e["event"] == "validation")


def generate_speed(tree, checkpoint, task):
    return float(in_version(tree, "-c", GENERATE, checkpoint, task, 200))


def spread(values):
    return max(values) / min(values) - 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--configs", default="2x128,2x512", help="LAYERSxHIDDEN, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--tasks",
        default="train,sample,beam",
        help="what to time: train, sample, beam (comma-separated); without "
        "train, each version trains once for the model it generates from",
    )
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    tasks = args.tasks.split(",")
    if not set(tasks) <= {"train", "sample", "beam"}:
        sys.exit(f"--tasks: {args.tasks!r}; the tasks are train, sample and beam")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        text = corpus(tmp)
        for config in args.configs.split(","):
            layers, hidden = (int(n) for n in config.split("x"))
            for r in range(args.rounds):
                order = list(trees) if r % 2 == 0 else list(reversed(list(trees)))
                for name in order:
                    out = Path(tmp) / f"{name}-{config}"
                    row = results.setdefault(config, {}).setdefault(name, {})
                    if "train" in tasks or r == 0:
                        speed = train_speed(trees[name], text, layers, hidden, out)
                        if "train" in tasks:
                            row.setdefault("train", []).append(speed)
                    for task in set(tasks) - {"train"}:
                        row.setdefault(task, []).append(
                            generate_speed(trees[name], out / "last.npz", task)
                        )
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, 2 threads, "
        f"{args.rounds} rounds, alternated; chars/s median (spread)"
    )
    print("| model | task | before | after | after/before |")
    print("|---|---|---:|---:|---:|")
    for config, row in results.items():
        for task in [t for t in ("train", "sample", "beam") if t in tasks]:
            b, a = row["before"][task], row["after"][task]
            print(
                f"| {config} | {task} | {statistics.median(b):,.0f} ({spread(b):.1%}) | "
                f"{statistics.median(a):,.0f} ({spread(a):.1%}) | "
                f"{statistics.median(a) / statistics.median(b):.3f} |"
            )


if __name__ == "__main__":
    main()
