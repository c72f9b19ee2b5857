"""Quality per minute: the validation loss charrnn's defaults reach in a time
budget, as a user would run them.

For each run CELL:BUDGET, one `charrnn train CORPUS --val-frac 0.1 --cell CELL
--max-time BUDGET` process with nothing else given (the defaults, budget
schedule included), one after the other on the otherwise quiet machine. A
budget that ends in "chars" is one of training characters instead
(`lstm:8.7Mchars` runs `--max-chars 8.7M`): the budget that trains as many
characters as a time budget on a faster machine. Then
a table from the checkpoints: best validation loss, steps, training
characters, characters a second (of the whole run, validation included) and
the training process's peak resident memory, and a sample of each model
(`charrnn sample RUN --prime "ROMEO:" --temperature 0.8 --seed 1`), and how
the model fares from a zero state anywhere in the validation text, as
sampling and evaluation start: the mean loss of 2,000 streams of 200
characters that start from zeros at evenly spaced places, and how many of
them run away (above 4 nats/char; a sound model has none). Each cell
trains one step first, so that the peak RSS is the training's, not Numba's
compiler's.

    python bench/quality.py                            # about 2 hours: see RUNS
    python bench/quality.py --runs lstm:2m,gru:2m --out /tmp/quality
    python bench/quality.py --runs lstm:8.7Mchars --out /tmp/quality
    python bench/quality.py --table-only               # the table of the runs in --out

Arguments after the options go to every `charrnn train` (e.g. `--hidden 256`).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from settings import DEFAULT_CORPUS, REPO, missing_corpus

# every cell for ten minutes; the LSTM (the default) and the GRU for thirty
RUNS = "lstm:10m,gru:10m,rnn:10m,mut1:10m,mut2:10m,mut3:10m,lstm:30m,gru:30m"
ZERO_STARTS, RUNAWAY = 2000, 4.0  # streams from a zero state; nats/char of one run away
SAMPLE = ["--prime", "ROMEO:", "--temperature", "0.8", "--seed", "1", "--length", "300"]


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train_command(cell, limit, corpus, out, extra):
    return [
        sys.executable,
        "-m",
        "charrnn",
        "train",
        str(corpus),
        "--val-frac",
        "0.1",
        "--cell",
        cell,
        *limit,
        "--out",
        str(out),
        "--force",
        "--quiet",
        *extra,
    ]


def train(cell, budget, corpus, out, extra):
    """One training process; its wall time and peak RSS go to out/quality.json."""
    limit = (
        ["--max-chars", budget[: -len("chars")]]
        if budget.endswith("chars")
        else ["--max-time", budget]
    )
    command = train_command(cell, limit, corpus, out, extra)
    print("$", " ".join(["charrnn"] + command[3:]), flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)  # the rusage of this child alone
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cell} {budget}: charrnn train failed")
    (out / "quality.json").write_text(
        json.dumps(
            {
                "wall_seconds": time.perf_counter() - started,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "command": command[3:],
            }
        )
    )


def compile_first(cells, corpus, out, extra):
    """One step of each cell first, so that Numba compiles (and caches) its kernels
    in a process of its own: the compile is outside --max-time already, but its
    memory (200 MB more for the LSTM) would be the timed run's peak RSS."""
    for cell in dict.fromkeys(cells):
        subprocess.run(
            train_command(cell, ["--max-steps", "1"], corpus, out / f"compile-{cell}", extra),
            check=True,
        )


def sample(out):
    result = subprocess.run(
        [sys.executable, "-m", "charrnn", "sample", str(out / "best.npz"), "--json", *SAMPLE],
        capture_output=True,
        text=True,
        check=True,
    )
    generated = json.loads(result.stdout)
    return generated["prime"] + generated["text"]


def zero_starts(out, corpus, starts=ZERO_STARTS, length=200):
    """(mean loss, streams above RUNAWAY nats/char) of ``starts`` streams of the
    validation text, each ``length`` characters from a zero state."""
    sys.path.insert(0, str(REPO))
    import numpy as np
    from charrnn.checkpoint import load
    from charrnn.data.batches import split
    from charrnn.kernels.threads import default_threads, use_threads
    from charrnn.loss import softmax_cross_entropy
    from charrnn.model import forward, views, zero_state

    model = load(str(out / "best.npz"))
    cfg, p = model.model, views(model.params, model.model)
    val = split(model.vocab.encode(Path(corpus).read_text(encoding="utf-8")), 0.1)[1]
    first = np.linspace(0, len(val) - length - 1, starts).astype(np.int64)
    blocks = use_threads(default_threads())
    state, losses = zero_state(cfg, starts), np.zeros(starts)
    for begin in range(0, length, 50):
        block = val[np.arange(begin, min(begin + 50, length) + 1)[:, None] + first[None, :]]
        top = {}

        def keep_top(layer, sequences):
            if layer == cfg.layers - 1:
                top["h"] = sequences[0][1:].copy()

        _, state, _ = forward(
            model.params, cfg, block[:-1], block[1:], state, blocks=blocks, on_layer=keep_top
        )
        for b in range(starts):  # the decoder, stream by stream
            logits = top["h"][:, b] @ p["w_y"] + p["b_y"]
            losses[b] += softmax_cross_entropy(logits, block[1:, b].copy(), 0.0)
    losses /= length
    return float(losses.mean()), int((losses > RUNAWAY).sum())


def summary(out):
    sys.path.insert(0, str(REPO))
    from charrnn.checkpoint import load

    last = load(str(out / "last.npz"), weights=False)
    measured = json.loads((out / "quality.json").read_text())
    return {
        "best": last.best_val,
        "steps": last.step,
        "chars": last.chars,
        "seconds": last.seconds,
        "started": os.path.getmtime(out / "last.npz") - measured["wall_seconds"],
        **measured,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=RUNS, help=f"CELL:BUDGET,... [{RUNS}]")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--out", default="/tmp/charrnn-quality", help="run directories go here")
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="only print the table of the runs already in --out",
    )
    args, extra = parser.parse_known_args()
    runs = [tuple(spec.split(":")) for spec in args.runs.split(",")]
    if any(len(run) != 2 for run in runs):
        parser.error("--runs: a list of CELL:BUDGET such as lstm:10m,gru:30m")
    out = Path(args.out)
    if not Path(args.corpus).is_file():
        sys.exit(missing_corpus(args.corpus))
    if not args.table_only:
        compile_first([cell for cell, _ in runs], args.corpus, out, extra)
        for cell, budget in runs:
            train(cell, budget, args.corpus, out / f"{cell}-{budget}", extra)
    results = {(cell, budget): summary(out / f"{cell}-{budget}") for cell, budget in runs}
    started = datetime.fromtimestamp(min(r["started"] for r in results.values()), timezone.utc)
    print(
        f"\nruns from {started:%Y-%m-%d %H:%M} UTC; {cpu_name()}, {os.cpu_count()} CPUs; "
        f"{args.corpus}, --val-frac 0.1{' ' + ' '.join(extra) if extra else ''}\n"
    )
    print(
        "| cell | budget | best val loss | steps | training chars | chars/s | peak RSS "
        f"| from zero: loss, runaways of {ZERO_STARTS:,} |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (cell, budget), r in results.items():
        loss, runaways = zero_starts(out / f"{cell}-{budget}", args.corpus)
        print(
            f"| {cell} | {budget.replace('chars', ' chars')} | {r['best']:.4f} "
            f"| {r['steps']:,} | {r['chars'] / 1e6:.1f}M | {r['chars'] / r['seconds']:,.0f} "
            f"| {r['peak_rss_mb']:,.0f} MB | {loss:.4f}, {runaways} |"
        )
    for (cell, budget), r in results.items():
        print(f"\n{cell}, {budget} (`charrnn sample {' '.join(SAMPLE)}`):\n")
        print("```\n" + sample(out / f"{cell}-{budget}") + "\n```")


if __name__ == "__main__":
    main()
