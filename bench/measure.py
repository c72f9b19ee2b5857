"""charrnn against PyTorch, the measuring half: runs every contender in
rounds and writes the raw results to a JSON file, which bench/report.py
turns into tables.

Every measurement runs in a fresh worker process (bench/worker.py, one JSON
line out), with OPENBLAS/OMP/MKL_NUM_THREADS set to its thread count, so peak
RSS and thread settings are clean.  Each round runs charrnn and PyTorch
alternately for every (cell, configuration, task) (the order flips every
round; a cell without a PyTorch peer runs charrnn alone).  charrnn trains,
samples and beam-searches with --threads threads; it trains once per
--train-precisions (float32; bfloat16 on AMX tiles, only where the CPU and
Linux offer them: charrnn.kernels.amx.AVAILABLE) and generates once per
--precisions.  PyTorch runs once per thread count of TORCH_THREADS, and
trains in float32 ("torch") and in bfloat16 autocast ("torch:autocast").
The matmul peak is measured in every round.  Before the rounds, one short run of
every charrnn task fills a fresh Numba cache, so every round measures what a
user's second run sees, not compilation.

    python bench/measure.py --out /tmp/raw.json --configs 2x128 --rounds 5
    python bench/report.py /tmp/raw.json
"""

import argparse
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib import util
from pathlib import Path

from charrnn_side import impl_name
from provenance import CPU_FLAGS, cpu_flags, stamp  # noqa: F401 (cpu_flags: tests)
from settings import (
    CONFIGS,
    DEFAULT_CORPUS,
    PRECISIONS,
    REPO,
    TASKS,
    TRAIN_PRECISIONS,
    VAL_FRAC,
    Options,
    missing_corpus,
    parse_config,
)
from torch_side import PEERS, TORCH_MISSING, TORCH_THREADS, TRAIN_IMPLS

WORKER = Path(__file__).resolve().parent / "worker.py"
STARTED = time.perf_counter()


def add_options(parser):
    """The flags of one benchmark run (bench/run.py's and this script's)."""
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement")
    parser.add_argument(
        "--configs",
        help=f"comma-separated, of {', '.join(CONFIGS)} [all of them] (any other LxH: B50 T50)",
    )
    parser.add_argument(
        "--cell",
        default="lstm",
        help="comma-separated cells of charrnn.cells.CELLS; 'all' = every one",
    )
    parser.add_argument("--threads", type=int, default=2, help="charrnn training threads")
    parser.add_argument(
        "--tasks", default=",".join(TASKS), help=f"comma-separated subset of {','.join(TASKS)}"
    )
    parser.add_argument(
        "--corpus", default=str(DEFAULT_CORPUS), help="the text every run trains on [%(default)s]"
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="target duration of each timed training run"
    )
    parser.add_argument("--min-steps", type=int, default=3, help="fewest timed training steps")
    parser.add_argument("--sample-length", type=int, default=2000)
    parser.add_argument("--beam-length", type=int, default=200)
    parser.add_argument("--peak-size", type=int, default=2048, help="matmul size for the peak")
    parser.add_argument("--peak-repeats", type=int, default=7)
    parser.add_argument(
        "--precisions",
        default=",".join(PRECISIONS),
        help="charrnn's generation runs once per precision of its weights "
        f"(comma-separated, of {', '.join(PRECISIONS)})",
    )
    parser.add_argument(
        "--train-precisions",
        default=",".join(TRAIN_PRECISIONS),
        help="charrnn trains once per precision of its products (comma-separated, of "
        f"{', '.join(TRAIN_PRECISIONS)}); bfloat16 only where the CPU has AMX",
    )
    parser.add_argument(
        "--command-steps",
        type=int,
        default=0,
        help="training steps of the whole-command runs (validation every "
        "third of them); default 15 (60 at 2x128)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 round, 2x128 (unless --configs), tiny step counts",
    )


FACTS = """
import json
from charrnn.cells import CELLS
from charrnn.kernels import amx
from charrnn.precision import for_training
print(json.dumps({"cells": list(CELLS), "amx": amx.AVAILABLE,
                  "auto_training_precision": for_training("auto", resuming=False)[0]}))
"""


@functools.cache
def charrnn_facts():
    """{cells: charrnn.cells.CELLS, amx: whether charrnn can train in bfloat16
    here (kernels.amx.AVAILABLE), auto_training_precision: what `charrnn train
    --precision auto` picks here}, read in a child process: importing charrnn
    sets GOMP_SPINCOUNT, which the PyTorch workers must not inherit from here;
    and AMX is granted per process, as a worker will ask for it."""
    facts = subprocess.run(
        [sys.executable, "-c", FACTS],
        env=checkout_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(facts.stdout.strip().splitlines()[-1])


def chosen_cells(spelled, known):
    """The cells of --cell, in the order given, once each; 'all' is every one."""
    names = [
        n for name in spelled.split(",") if name for n in (known if name == "all" else (name,))
    ]
    cells = tuple(dict.fromkeys(names))
    unknown = [name for name in cells if name not in known]
    if unknown or not cells:
        sys.exit(f"unknown cell {', '.join(unknown)}; choose from {', '.join(known)} or all")
    return cells


QUICK = dict(
    rounds=1,
    seconds=0.2,
    min_steps=2,
    sample_length=200,
    beam_length=20,
    peak_size=512,
    peak_repeats=3,
)
NUMBERS = (  # the flags that Options takes as they are
    "rounds",
    "threads",
    "seconds",
    "min_steps",
    "sample_length",
    "beam_length",
    "peak_size",
    "peak_repeats",
    "command_steps",
)


def listed(spelled, known, flag):
    """The comma-separated names of a flag; any other than ``known`` exits."""
    names = tuple(spelled.split(","))
    if not set(names) <= set(known):
        sys.exit(f"{flag} takes a comma-separated subset of {','.join(known)}")
    return names


def train_precisions(spelled):
    """--train-precisions less bfloat16 where charrnn has no AMX here (logged;
    the report says so too)."""
    chosen = listed(spelled, TRAIN_PRECISIONS, "--train-precisions")
    if "bfloat16" in chosen and not charrnn_facts()["amx"]:
        log("charrnn bfloat16 training left out: this CPU has no AMX (or Linux does not grant it)")
        chosen = tuple(p for p in chosen if p != "bfloat16")
    if not chosen:
        sys.exit("--train-precisions: nothing left to measure on this machine")
    return chosen


def options_from(args):
    """Options of the parsed flags; a wrong flag exits with a one-line message."""
    spelled = args.configs or ("2x128" if args.quick else ",".join(CONFIGS))
    try:
        configs = tuple(parse_config(name) for name in spelled.split(","))
    except ValueError as error:
        sys.exit(str(error))
    tasks = listed(args.tasks, TASKS, "--tasks")
    precisions = listed(args.precisions, PRECISIONS, "--precisions")
    if args.rounds < 1 or args.threads < 1:
        sys.exit("--rounds and --threads must be at least 1")
    if args.command_steps < 0:
        sys.exit("--command-steps must be at least 1 (0: by configuration)")
    if util.find_spec("torch") is None:
        sys.exit(TORCH_MISSING)
    if not Path(args.corpus).is_file():
        sys.exit(missing_corpus(args.corpus))
    fields = {name: getattr(args, name) for name in NUMBERS}
    return Options(
        cells=chosen_cells(args.cell, tuple(charrnn_facts()["cells"])),
        configs=configs,
        tasks=tasks,
        precisions=precisions,
        train_precisions=train_precisions(args.train_precisions),
        corpus=str(Path(args.corpus).resolve()),
        **{**fields, **(QUICK if args.quick else {})},
    )


def checkout_env(threads=None):
    """This environment with the checkout first on PYTHONPATH (charrnn runs from
    it, installed or not) and, given ``threads``, BLAS and OpenMP set to them."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    if threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    return env


def run_worker(options, task, impl="", config="", threads=1, cell=""):
    """One measurement in a fresh worker process with ``threads`` threads."""
    job = {
        "task": task,
        "impl": impl,
        "cell": cell,
        "config": config,
        "threads": threads,
        "options": options.to_json(),
    }
    command = [sys.executable, str(WORKER), json.dumps(job)]
    proc = subprocess.run(command, env=checkout_env(threads), capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if result is not None and "error" in result:
        sys.exit(result["error"])
    if proc.returncode != 0 or result is None:
        sys.exit(
            f"worker failed ({shlex.join(command)}), exit {proc.returncode}:\n{proc.stderr[-3000:]}"
        )
    return result


def log(message):
    print(f"[{time.perf_counter() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def contenders(options, cell, round_no, task):
    """[(impl, threads)] in this round's order: charrnn first in odd rounds;
    charrnn alone for a cell without a PyTorch peer.  Generation runs charrnn
    once per precision of its weights, training once per precision of its
    products; PyTorch trains in float32 and in bfloat16 autocast (TRAIN_IMPLS)
    and generates in float32, each at every thread count of TORCH_THREADS."""
    if task in ("sample", "beam"):
        precisions = options.precisions
    elif task == "train":
        precisions = options.train_precisions
    else:  # the whole command: `charrnn train` as a user runs it (--precision auto)
        precisions = ("float32",)
    theirs = TRAIN_IMPLS if task == "train" else ("torch",)
    order = [(impl_name(p), options.threads) for p in precisions] + [
        (impl, t) for impl in theirs for t in TORCH_THREADS if cell in PEERS
    ]
    return order if round_no % 2 == 1 else order[::-1]


def peak_threads(options):
    return sorted({options.threads, *TORCH_THREADS})


def warm_cache(options):
    """One short charrnn run of every cell and task before the rounds, so that
    Numba's on-disk cache holds every kernel: each round then measures what a
    user's second run sees, not compilation (time, and the compiler's memory).
    The cache is a fresh directory for this run: Numba's own check of a cached
    kernel looks at its source file only, not at the kernels it inlines.  The
    command task warms with a real `charrnn train` of 2 steps at 2x128 (two
    validation runs, checkpoints): the kernels are compiled for types, not sizes."""
    short = replace(
        options, seconds=0.1, min_steps=1, sample_length=20, beam_length=5, command_steps=2
    )
    for cell in options.cells:
        for task in options.tasks:
            for impl, _ in contenders(options, cell, 1, task):
                if impl.startswith("charrnn"):
                    run_worker(short, task, impl, "2x128", options.threads, cell)
        log(f"compiled {cell}")
    log(f"Numba's cache is warm ({os.environ['NUMBA_CACHE_DIR']})")


def describe(r):
    """One log line's figures of a worker's result."""
    if r["task"] == "command":  # no rate: a peak, a time and a loss
        return (
            f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['steps']} steps and "
            f"{r['validations']} validation runs in {r['seconds']:.1f} s, "
            f"val loss {r['val_loss']:.3f}"
        )
    extra = (
        f", {r['steps']} steps in {r['seconds']:.1f} s, loss {r['loss']:.3f}, "
        f"peak RSS {r['peak_rss_mb']:.0f} MB"
        if r["task"] == "train"
        else f", {r['chars']} chars in {r['seconds']:.2f} s"
    )
    return f"{r['chars_per_s']:>10,.0f} chars/s{extra}"


def run_rounds(options):
    """(results, peaks): [{cell, config, task, impl, threads, runs}] with one run
    per round, and [{threads, runs}] of the matmul peak."""
    results, peaks = {}, {t: [] for t in peak_threads(options)}
    for round_no in range(1, options.rounds + 1):
        head = f"round {round_no}/{options.rounds}"
        for threads, runs in peaks.items():
            runs.append(run_worker(options, "peak", threads=threads))
            log(f"{head} matmul peak {threads}t: {runs[-1]['gflops']:.1f} GFLOP/s")
        for cfg in options.configs:
            for cell in options.cells:
                for task in options.tasks:
                    for impl, threads in contenders(options, cell, round_no, task):
                        r = run_worker(options, task, impl, cfg.name, threads, cell)
                        results.setdefault((cell, cfg.name, task, impl, threads), []).append(r)
                        log(
                            f"{head} {cell:4s} {cfg.name} {task:7s} {impl:16s} {threads}t: "
                            f"{describe(r)}"
                        )
    return (
        [
            {
                "cell": cell,
                "config": config,
                "task": task,
                "impl": impl,
                "threads": threads,
                "runs": runs,
            }
            for (cell, config, task, impl, threads), runs in results.items()
        ],
        [{"threads": t, "runs": runs} for t, runs in peaks.items()],
    )


def environment(options):
    """Where and when the run happened, on what CPU features and threads, what
    charrnn's `train --precision auto` picks here, and the corpus's sizes."""
    text = Path(options.corpus).read_text(encoding="utf-8")
    facts = charrnn_facts()
    return {
        **stamp(),
        "amx": facts["amx"],
        "auto_training_precision": facts["auto_training_precision"],
        "threads": {"charrnn": options.threads, "torch": list(TORCH_THREADS)},
        "corpus_chars": len(text),
        "vocab_size": len(set(text)),
        "val_chars": round(len(text) * VAL_FRAC),
    }


def measure(options):
    """The raw results of a whole run, as the JSON file holds them."""
    about = environment(options)
    log(
        f"{about['command']}: {', '.join(options.cells)} at "
        f"{', '.join(c.name for c in options.configs)}, {options.rounds} round(s)"
    )
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="charrnn-bench-cache-")
    try:
        warm_cache(options)
        results, peaks = run_rounds(options)
    finally:
        shutil.rmtree(os.environ.pop("NUMBA_CACHE_DIR"), ignore_errors=True)
    return {
        "options": options.to_json(),
        "environment": about,
        "peaks": peaks,
        "results": results,
        "seconds": time.perf_counter() - STARTED,
    }


def write_raw(raw, path):
    with open(path, "w") as f:
        json.dump(raw, f, indent=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser)
    parser.add_argument("--out", required=True, metavar="PATH", help="the raw results' file")
    args = parser.parse_args()
    write_raw(measure(options_from(args)), args.out)


if __name__ == "__main__":
    main()
