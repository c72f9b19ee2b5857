"""The quality race: the best validation loss that `charrnn train` with its
defaults reaches in a wall-clock budget, against bench/torch_train_command.py
(the same model and job in PyTorch) given the same budget on the same machine.

For each seed, one after the other on the otherwise quiet machine (the
contenders alternate, so that a slower spell of the machine falls on both):

    charrnn train CORPUS --val-frac 0.1 --max-time BUDGET --seed S        (defaults)
    python bench/torch_train_command.py CORPUS --val-frac 0.1 --max-time BUDGET \\
        --eval-every 250 --seed S --impl IMPL --threads N

Both count the budget from the first training step, validation runs (every
250 steps, over the whole held-out tenth) and checkpoint writes included; the
compile of charrnn's kernels (cached by a one-step run first) and PyTorch's
import are outside it.  Then a table of each run and the medians over seeds,
and race.json in --out with the machine (CPU, flags), date, git commit and
every command.

    python bench/race.py                                  # 3 seeds x 2 x 10 min: ~65 min
    python bench/race.py --budget 1m --seeds 0 --out /tmp/race-check
    python bench/race.py --table-only --out /tmp/charrnn-race
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import provenance
from provenance import cpu_flags, stamp
from settings import DEFAULT_CORPUS, REPO, missing_corpus
from torch_side import TRAIN_IMPLS

TORCH_COMMAND = Path(__file__).resolve().parent / "torch_train_command.py"
STRETCH = 1.45  # the stretch goal for charrnn's ten minutes, nats/char


def seconds(budget):
    """Seconds of a budget as charrnn spells it (90s, 10m, 1h30m)."""
    sys.path.insert(0, str(REPO))
    from charrnn.commands.options import Duration

    return Duration().convert(budget, None, None)


def charrnn_command(corpus, budget, seed, out):
    return [sys.executable, "-m", "charrnn", "train", str(corpus), "--val-frac", "0.1",
            "--max-time", budget, "--seed", str(seed), "--out", str(out), "--force",
            "--quiet", "--json"]  # fmt: skip


def torch_command(corpus, budget, seed, out, impl, threads):
    return [sys.executable, str(TORCH_COMMAND), str(corpus), "--val-frac", "0.1",
            "--max-time", str(seconds(budget)), "--eval-every", "250", "--seed", str(seed),
            "--impl", impl, "--threads", str(threads), "--out", str(out)]  # fmt: skip


def end_event(command):
    """The last JSON line a training command prints (its end event)."""
    print("$", " ".join(Path(a).name if a == sys.executable else a for a in command), flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"exit {result.returncode}: {' '.join(command)}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(contender, corpus, budget, seed, out, impl, threads):
    """One contender's run: {best, steps, chars, train_seconds, command}."""
    directory = out / f"{contender}-seed{seed}"
    if contender == "charrnn":
        command = charrnn_command(corpus, budget, seed, directory)
        end = end_event(command)
        sys.path.insert(0, str(REPO))
        from charrnn.checkpoint import load

        chars = load(str(directory / "last.npz"), weights=False).chars
        extra = {"precision": end["precision"]}
    else:
        command = torch_command(corpus, budget, seed, directory, impl, threads)
        end = end_event(command)
        chars, extra = end["chars"], {"impl": impl, "threads": threads}
    return {
        "contender": contender,
        "seed": seed,
        "best": end["best_val_loss"],
        "steps": end["steps"],
        "chars": chars,
        "train_seconds": end["train_seconds"],
        "command": command[1:],
        **extra,
    }


def environment(args):
    return {**stamp(), "corpus": str(args.corpus), "budget": args.budget}


def contender(run):
    """A run's contender as the table names it."""
    if run["contender"] == "charrnn":
        return f"charrnn ({run['precision']})"
    return f"PyTorch ({run['impl']}, {run['threads']} threads)"


def medians(report):
    """{contender: the median over seeds of its best validation loss}."""
    return {
        c: statistics.median(r["best"] for r in report["runs"] if r["contender"] == c)
        for c in ("charrnn", "torch")
    }


def table(report):
    """Markdown: a row per run, then the medians and the verdict."""
    lines = [
        f"- budget {report['environment']['budget']} each, seeds "
        + ", ".join(str(s) for s in report["seeds"]),
        "",
        "| contender | seed | best val loss | steps | training chars | chars/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {contender(r)} | {r['seed']} | {r['best']:.4f} | {r['steps']:,} "
            f"| {r['chars'] / 1e6:.2f}M | {r['chars'] / r['train_seconds']:,.0f} |"
        )
    found = medians(report)
    lines += [
        "",
        f"- median best validation loss: charrnn {found['charrnn']:.4f}, "
        f"PyTorch {found['torch']:.4f} "
        f"({'charrnn lower: met' if found['charrnn'] < found['torch'] else 'not met'})",
        f"- stretch (charrnn <= {STRETCH}): "
        + ("met" if found["charrnn"] <= STRETCH else "not met"),
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m", help="each run's training time [10m]")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated [0,1,2]")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--out", default="/tmp/charrnn-race", type=Path)
    parser.add_argument(
        "--torch-impl",
        default="torch:autocast",
        choices=TRAIN_IMPLS,
        help="PyTorch's float32 or bfloat16 autocast [torch:autocast, its faster here]",
    )
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--table-only", action="store_true", help="the table of --out/race.json")
    args = parser.parse_args()
    report_file = args.out / "race.json"
    if not args.table_only:
        if not Path(args.corpus).is_file():
            sys.exit(missing_corpus(args.corpus))
        seeds = [int(s) for s in args.seeds.split(",")]
        args.out.mkdir(parents=True, exist_ok=True)
        report = {"environment": environment(args), "cpu_flags": cpu_flags(), "seeds": seeds}
        subprocess.run(  # compile (and cache) the kernels outside the timed runs
            charrnn_command(args.corpus, "1s", 0, args.out / "compile")[:-1], check=True
        )
        report["runs"] = [
            run(c, args.corpus, args.budget, s, args.out, args.torch_impl, args.torch_threads)
            for s in seeds
            for c in ("charrnn", "torch")
        ]
        report_file.write_text(json.dumps(report, indent=1))
    report = json.loads(report_file.read_text())
    print(provenance.line(report) + "\n\n" + table(report))


if __name__ == "__main__":
    main()
