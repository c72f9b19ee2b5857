"""The cells compared on one corpus, as a user would run them: the
Jozefowicz et al. comparison in miniature.

For each cell, one `charrnn train CORPUS --val-frac 0.1 --cell X --max-time T`
process (the defaults otherwise: 2x512, batch 50, sequence 50, the budget schedule),
one after the other, then a table from the checkpoints: the best and last
validation loss in the time, steps, training characters per second, and the
validation loss at an equal number of training characters (the fewest any
cell reached, interpolated linearly between its validation runs), which
separates what a cell learns per character from how fast it runs.

    python bench/cells.py                                # 10 minutes a cell, about an hour
    python bench/cells.py --cells gru,rnn --max-time 2m --out /tmp/cells
"""
import argparse
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared/corpora/tinyshakespeare.txt"
CELLS = ("lstm", "gru", "rnn", "mut1", "mut2", "mut3")


def train(cell, corpus, max_time, out, extra):
    command = [sys.executable, "-m", "charrnn", "train", str(corpus), "--val-frac", "0.1",
               "--cell", cell, "--max-time", max_time, "--out", str(out), "--quiet", *extra]
    print("$", " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True)


def summary(out):
    sys.path.insert(0, str(REPO))
    from charrnn.checkpoint import load
    ckpt = load(str(out / "last.npz"))
    return {"best": ckpt.best_val, "last": ckpt.val_history[-1, 1], "steps": ckpt.step,
            "chars": ckpt.chars, "seconds": ckpt.seconds, "val_chars": ckpt.val_chars,
            "val_loss": ckpt.val_history[:, 1],
            "params": int(ckpt.params.size), "written": os.path.getmtime(out / "last.npz")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--max-time", default="10m")
    parser.add_argument("--out", default="/tmp/charrnn-cells", help="run directories go here")
    parser.add_argument("--table-only", action="store_true",
                        help="only print the table of runs already in --out")
    args, extra = parser.parse_known_args()
    cells = args.cells.split(",")
    out = Path(args.out)
    if not args.table_only:
        for cell in cells:
            train(cell, args.corpus, args.max_time, out / cell, extra)
    runs = {cell: summary(out / cell) for cell in cells}
    equal = min(r["val_chars"][-1] for r in runs.values())
    started = datetime.fromtimestamp(min(r["written"] - r["seconds"] for r in runs.values()),
                                     timezone.utc)
    print(f"\nruns from {started:%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; {args.corpus}, --max-time {args.max_time} per cell; "
          f"loss at {equal / 1e6:.2f}M training characters interpolated\n")
    print("| cell | parameters | steps | chars/s (with validation) | best val loss | last val loss | "
          f"val loss at {equal / 1e6:.2f}M chars |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for cell, r in runs.items():
        at_equal = np.interp(equal, r["val_chars"], r["val_loss"])
        print(f"| {cell} | {r['params']:,} | {r['steps']:,} | {r['chars'] / r['seconds']:,.0f} | "
              f"{r['best']:.4f} | {r['last']:.4f} | {at_equal:.4f} |")


if __name__ == "__main__":
    main()
