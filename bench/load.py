"""No cliffs: every command that computes, on a quiet machine and beside a
CPU-bound competitor, with its default threads against one and two.

For each model size, task and thread setting (the default, chosen from the
free CPUs, then 1 and 2), a fresh worker process loads a model of that size
(random weights; speed does not depend on them), runs the task once to
compile and warm up, then times it: characters a second of

- train: `charrnn train` steps on the corpus (api.train, --max-time);
- sample: `charrnn sample` (temperature 1);
- beam: `charrnn sample --beam 7`;
- eval: `charrnn eval`, the text read as one stream;
- viz: `charrnn viz --find` over 20,000 characters.

Each is measured quiet, then beside one process that spins on a core (`python
-c "while True: pass"`), the settings alternated in every round; medians over
the rounds.  Targets (issue 28): busy, the default >= 0.8x one thread beside
the same competitor; quiet, the default >= 0.95x the better of one and two.
The order of the settings turns from round to round.

    python bench/load.py                # 2x128 and 2x512, 3 rounds: bench/results/load.json
    python bench/load.py --configs 1x32 --rounds 1 --seconds 1 --tasks eval --results /tmp/l.json
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import provenance
from provenance import stamp
from settings import DEFAULT_CORPUS, REPO, missing_corpus, parse_config

TASKS = ("train", "sample", "beam", "eval", "viz")
SETTINGS = ("default", "1", "2")  # --threads
COMPETITOR = [sys.executable, "-c", "while True: pass"]
TARGET_BUSY, TARGET_QUIET = 0.8, 0.95


def worker(task, checkpoint, corpus, threads, seconds):
    """Characters a second of ``task`` (in this process), timed for ~``seconds``."""
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # as the command line sets it (cli.py)
    sys.path.insert(0, str(REPO))
    import charrnn

    threads = None if threads == "default" else int(threads)
    text = Path(corpus).read_text(encoding="utf-8")
    if task == "train":
        config = charrnn.load(checkpoint).checkpoint.model
        run = lambda budget: charrnn.train(  # noqa: E731
            corpus, out=tempfile.mkdtemp(), quiet=True, hidden=config.hidden,
            layers=config.layers, max_time=budget, val_frac=0.002, eval_every=10**6,
            threads=threads, precision="float32",
        )  # fmt: skip
        run(1)  # compiles
        done = run(seconds)
        chars = charrnn.load(done.last_checkpoint).checkpoint.chars
        return chars / done.train_seconds
    model = charrnn.load(checkpoint)
    jobs = {
        "sample": lambda n: model.sample(n, seed=1, threads=threads),
        "beam": lambda n: model.beam(n, width=7, seed=1, threads=threads).text,
        "eval": lambda n: model.loss(text[:n], threads=threads),
        "viz": lambda n: viz_find(model, text[:n], threads),
    }
    job, n = jobs[task], 200
    job(n)  # compiles
    while True:  # grow the job until it takes a tenth of the time, then time it
        started = time.perf_counter()
        job(n)
        took = time.perf_counter() - started
        if took >= seconds / 10:
            break
        n *= 4
    n = max(n, int(n * seconds / took))
    started = time.perf_counter()
    job(n)
    return n / (time.perf_counter() - started)


def viz_find(model, text, threads):
    from charrnn.kernels.threads import run_on
    from charrnn.viz import find

    run_on(threads)
    return find(model.checkpoint, text)


def measure(task, checkpoint, corpus, threads, seconds, busy):
    """One worker's chars/s, quiet or beside a competitor."""
    competitor = subprocess.Popen(COMPETITOR) if busy else None
    try:
        if busy:
            time.sleep(0.5)  # on its core before the worker starts
        result = subprocess.run(
            [sys.executable, __file__, "--worker", task, checkpoint, corpus, threads,
             str(seconds)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(result.stdout.strip().splitlines()[-1])
    finally:
        if competitor:
            competitor.kill()
            competitor.wait()


def model_checkpoint(config, corpus, out):
    """best.npz of a one-step run of ``config``: weights to time the tasks with."""
    sys.path.insert(0, str(REPO))
    import charrnn

    run = charrnn.train(
        corpus, out=str(out / config.name), force=True, quiet=True, hidden=config.hidden,
        layers=config.layers, max_steps=1, val_frac=0.01,
    )  # fmt: skip
    return run.best_checkpoint


def table(report):
    lines = [
        f"Medians of {report['rounds']} rounds, chars/s; busy: beside one process spinning "
        "on a core.",
        "",
        "| model | task | quiet: default | 1 thread | 2 threads | default / better "
        "| busy: default | 1 thread | 2 threads | default / 1 thread |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for config, tasks in report["medians"].items():
        for task, m in tasks.items():
            quiet = m["quiet"]["default"] / max(m["quiet"]["1"], m["quiet"]["2"])
            busy = m["busy"]["default"] / m["busy"]["1"]
            verdicts += [quiet >= TARGET_QUIET, busy >= TARGET_BUSY]
            figures = [f"{m[load][s]:,.0f}" for load in ("quiet",) for s in SETTINGS]
            busy_figures = [f"{m['busy'][s]:,.0f}" for s in SETTINGS]
            lines.append(
                f"| {config} | {task} | {' | '.join(figures)} | {quiet:.2f} "
                f"| {' | '.join(busy_figures)} | {busy:.2f} |"
            )
    lines += [
        "",
        f"- targets: quiet >= {TARGET_QUIET}, busy >= {TARGET_BUSY}: "
        f"{sum(verdicts)} of {len(verdicts)} met",
    ]
    return "\n".join(lines)


def main():
    if sys.argv[1:2] == ["--worker"]:
        task, checkpoint, corpus, threads, seconds = sys.argv[2:7]
        print(worker(task, checkpoint, corpus, threads, float(seconds)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="2x128,2x512")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="each timed run [4]")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--out", default="/tmp/charrnn-load", type=Path, help="the models")
    parser.add_argument("--results", default=REPO / "bench" / "results" / "load.json", type=Path)
    args = parser.parse_args()
    if not Path(args.corpus).is_file():
        sys.exit(missing_corpus(args.corpus))
    configs = [parse_config(name) for name in args.configs.split(",")]
    tasks = args.tasks.split(",")
    checkpoints = {c.name: model_checkpoint(c, args.corpus, args.out) for c in configs}
    runs = {}
    for r in range(args.rounds):
        for c in configs:
            for task in tasks:
                for load in ("quiet", "busy"):
                    # each setting first in its group in turn: the first run after a busy
                    # phase measured a few per cent slow (2x128 sample, 2026-12-04)
                    for threads in SETTINGS[r % 3 :] + SETTINGS[: r % 3]:
                        rate = measure(
                            task, checkpoints[c.name], args.corpus, threads, args.seconds,
                            load == "busy",
                        )  # fmt: skip
                        runs.setdefault((c.name, task, load, threads), []).append(rate)
                        print(f"round {r + 1}: {c.name} {task} {load} {threads}: {rate:,.0f}",
                              flush=True)  # fmt: skip
    medians = {}
    for (config, task, load, threads), rates in runs.items():
        medians.setdefault(config, {}).setdefault(task, {}).setdefault(load, {})[threads] = (
            statistics.median(rates)
        )
    report = {
        **stamp(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "runs": {" ".join(k): v for k, v in runs.items()},
        "medians": medians,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=1))
    print(provenance.line(report) + "\n\n" + table(report))


if __name__ == "__main__":
    main()
