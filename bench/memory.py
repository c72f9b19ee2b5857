"""Anonymous memory of training against corpus size: it must not grow with the corpus.

Builds synthetic corpora of 1 MB and --big MB (random words), trains a few
steps on each in a fresh process, and prints RssAnon (anonymous resident
memory, from /proc/self/status) at its peak, sampled through the run.  Exits
with status 1 when the growth is over --limit.

    python bench/memory.py --big 200
    python bench/memory.py --big 40 --limit 12   # tests/bench/test_memory.py
"""

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, threading, time
from charrnn.train import TrainConfig, train

peak = [0]
def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
def watch():
    while True:
        peak[0] = max(peak[0], rss_anon())
        time.sleep(0.01)
threading.Thread(target=watch, daemon=True).start()
train(sys.argv[1], TrainConfig(hidden=128, max_steps=20, eval_every=10**9,
                               val_frac=float(sys.argv[3])),
      sys.argv[2], quiet=True, log=lambda m: None)
peak[0] = max(peak[0], rss_anon())
print(peak[0])
"""


def make_corpus(path, megabytes):
    words = [
        w.encode()
        for w in "the quick brown fox jumps over a lazy dog while seven wizards "
        "quietly hex the bold jumbo vixen\n".split(" ")
    ]
    import random

    rng = random.Random(0)
    block = b" ".join(rng.choice(words) for _ in range(200_000))
    with open(path, "wb") as f:
        written = 0
        while written < megabytes * 1_000_000:
            f.write(block)
            written += len(block)


def peak_anon_kb(corpus, out, megabytes):
    """Peak RssAnon (kB) of training 20 steps; validation is 50,000 characters whatever
    the corpus size (its memory is bounded by the chunk size, not by its length)."""
    val_frac = 50_000 / (megabytes * 1_000_000)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, corpus, out, str(val_frac)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=200, help="size of the big corpus in MB")
    parser.add_argument(
        "--limit", type=float, default=50, help="the growth allowed from 1 MB to --big MB, in MiB"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for mb in (1, args.big):
            corpus = os.path.join(tmp, f"{mb}mb.txt")
            make_corpus(corpus, mb)
            results[mb] = peak_anon_kb(corpus, os.path.join(tmp, f"run{mb}"), mb)
            os.unlink(corpus)
            print(f"{mb:>5} MB corpus: peak RssAnon {results[mb] / 1024:8.1f} MiB")
        growth = (results[args.big] - results[1]) / 1024
        print(
            f"growth: {growth:.1f} MiB (limit {args.limit:g} MiB): "
            f"{'ok' if growth <= args.limit else 'TOO MUCH'}"
        )
    if growth > args.limit:
        sys.exit(1)


if __name__ == "__main__":
    main()
