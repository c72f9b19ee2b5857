"""charrnn against PyTorch, the reporting half: reads the raw results that
bench/measure.py wrote and prints the Markdown report, medians over rounds.

For every (cell, configuration) the table has

  * training chars/s      (steps * batch * seq / seconds, after 2 warm-up steps),
                          charrnn and PyTorch in float32
  * sampling chars/s      (batch 1, temperature 1) and beam search chars/s
    (generated chars / seconds), once per precision of charrnn's weights,
    against PyTorch's float32
  * peak RSS of training  (ru_maxrss of the whole worker process, MB)
  * peak RSS of the whole training command, as a user runs it (MB), against
    bench/torch_train_command.py (bench/whole_command.py); the notes give
    both final validation losses and what the command adds to the loop
  * training GFLOP/s as a fraction of the float32 matmul peak that NumPy's
    BLAS reaches with the same number of threads (the best round's)

Each PyTorch figure is the better of its thread counts, and the table says
which.  FLOPs per training character are charrnn's products, the same count
for both sides (charrnn_side.train_flops_per_char).

A second table (bench/report_train.py) sets training's four contenders side
by side: charrnn in float32 and in bfloat16 (AMX), PyTorch in float32 and in
bfloat16 autocast, with the ratios between them.  The header names the CPU
flags that bfloat16 depends on and the thread counts.

    python bench/report.py RAW.json
"""

import argparse
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import report_train
from charrnn_side import impl_name
from report_train import torch_threads
from settings import BEAM_WIDTH, CLIP, LR, VAL_FRAC, Options
from torch_side import PEERS
from whole_command import TORCH_COMMAND, command_schedule

FLOP_COUNT = (
    "FLOPs per char (charrnn's products, the same count for PyTorch): 3 x 2 x the "
    "forward's multiply-adds, one per weight of every matrix of the model (the "
    "decoder's H x V included) less layer 0's character lookups"
)


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


@dataclass(frozen=True)
class Report:
    """The raw file, indexed: results[(cell, config, task, impl, threads)] = runs."""

    options: Options
    environment: dict
    results: dict
    peaks: dict  # threads -> the best round's matmul peak
    rounds: dict  # threads -> every round's matmul peak
    seconds: float

    def runs(self, cell, cfg, task, impl="charrnn", threads=None):
        key = (cell, cfg.name, task, impl, self.options.threads if threads is None else threads)
        return self.results.get(key)

    def flops(self, cell, cfg):
        """FLOPs per training character, as charrnn's training workers counted them
        (the same in every precision)."""
        runs = [self.runs(cell, cfg, "train", impl_name(p)) for p in self.options.train_precisions]
        return next(r for r in runs if r)[0]["flops_per_char"]


def load(raw):
    # The machine's speed drifts (shared host): the peak is measured in every
    # round and the best round counts, which makes the fractions conservative.
    rounds = {p["threads"]: p["runs"] for p in raw["peaks"]}
    return Report(
        options=Options.from_json(raw["options"]),
        environment=raw["environment"],
        results={
            (r["cell"], r["config"], r["task"], r["impl"], r["threads"]): r["runs"]
            for r in raw["results"]
        },
        peaks={t: max(runs, key=lambda r: r["gflops"]) for t, runs in rounds.items()},
        rounds=rounds,
        seconds=raw["seconds"],
    )


def header(report):
    """The lines above the table: what ran, where, with what."""
    o, env = report.options, report.environment
    cells = ", ".join(
        f"{c} (PyTorch nn.{PEERS[c].module})" if c in PEERS else f"{c} (no PyTorch peer)"
        for c in o.cells
    )
    lines = [
        "# charrnn vs PyTorch\n",
        f"- command: `{env['command']}`",
        f"- date: {env['date']}",
        f"- machine: {env['machine']}; Python {env['python']}",
        "- " + ", ".join(f"{p} {v}" for p, v in env["versions"].items()),
        f"- cells: {cells}",
        f"- {o.rounds} round(s), medians; charrnn trains, samples and beam-searches with "
        f"{o.threads} threads (Numba's, BLAS single-threaded inside them); PyTorch: "
        f"better of {' and '.join(map(str, torch_threads(report)))} threads",
        cpu_line(env),
        f"- corpus {Path(o.corpus).name}, vocabulary {env['vocab_size']}; training: Adam "
        f"lr {LR}, clip {CLIP}; timed training runs of ~{o.seconds:g} s (at least "
        f"{o.min_steps} steps) after 2 warm-up steps",
    ]
    if "command" in o.tasks:
        schedules = ", ".join(
            f"{cfg.name} {n} steps, every {e}"
            for cfg in o.configs
            for n, e in [command_schedule(cfg, o.command_steps)]
        )
        lines.append(
            f"- whole command: `python -m charrnn train CORPUS --val-frac {VAL_FRAC} "
            f"... --max-steps N --eval-every E --json` (--precision auto: "
            f"{report_train.default_precision(report.environment)} products here) against bench/"
            f"{TORCH_COMMAND.name} (the same job in PyTorch, float32), validation and "
            f"checkpoints every E steps ({schedules})"
        )
    peaks = ", ".join(
        f"{p['gflops']:.1f} GFLOP/s with {t} thread{'s' * (t > 1)} (rounds: "
        + ", ".join(f"{r['gflops']:.0f}" for r in report.rounds[t])
        + ")"
        for t, p in report.peaks.items()
    )
    lines.append(
        f"- float32 matmul peak (NumPy, {o.peak_size}x{o.peak_size}, median of "
        f"{o.peak_repeats} products, best of {o.rounds} rounds): {peaks}"
    )
    return lines


def cpu_line(env):
    """The header's line of the CPU flags that bfloat16 training depends on."""
    flags = env.get("cpu_flags")
    if not flags:
        return "- CPU flags: not recorded"
    present = ", ".join(f"{flag} {'yes' if there else 'no'}" for flag, there in flags.items())
    amx = env.get("amx")
    return (
        f"- CPU flags: {present}; charrnn's AMX tiles: "
        f"{'available' if amx else 'not available'}, so `charrnn train --precision auto` "
        f"trains in {report_train.default_precision(env)}"
    )


@dataclass(frozen=True)
class Metric:
    """One row of the table: a figure of a task's runs."""

    task: str
    label: str
    figure: Callable  # (runs, threads) -> number
    lower_is_better: bool = False
    text: Callable = "{:,.0f}".format
    impl: str = "charrnn"


def metrics(report, cell, cfg):
    """The rows of one (cell, configuration), in the table's order."""
    o = report.options

    def rate(runs, threads):
        return median_of(runs, "chars_per_s")

    def rss(runs, threads):
        return median_of(runs, "peak_rss_mb")

    def peak_fraction(runs, threads):
        flops = report.flops(cell, cfg)
        return rate(runs, threads) * flops / 1e9 / report.peaks[threads]["gflops"]

    rows = [Metric("train", f"training chars/s (B{cfg.batch} T{cfg.seq}, float32)", rate)]
    for p in o.precisions:
        weights = "" if p == "float32" else f", {p} weights"
        rows += [
            Metric(
                "sample",
                f"sampling chars/s ({o.sample_length} chars{weights})",
                rate,
                impl=impl_name(p),
            ),
            Metric(
                "beam",
                f"beam-{BEAM_WIDTH} chars/s ({o.beam_length} chars{weights})",
                rate,
                impl=impl_name(p),
            ),
        ]
    return rows + [
        Metric("train", "peak RSS training (MB, float32)", rss, lower_is_better=True),
        Metric("command", "peak RSS whole command (MB)", rss, lower_is_better=True),
        Metric(
            "train", "training GFLOP/s / matmul peak (float32)", peak_fraction, text="{:.3f}".format
        ),
    ]


def row(report, cell, cfg, metric):
    """The Markdown row comparing the medians; None where it was not measured
    (--tasks, --precisions).  A PyTorch figure takes its better thread count;
    '-' where the cell has no peer."""
    ours = report.runs(cell, cfg, metric.task, metric.impl)
    if ours is None:
        return None
    mine = metric.figure(ours, report.options.threads)
    if cell in PEERS:
        theirs = {
            t: metric.figure(report.runs(cell, cfg, metric.task, "torch", t), t)
            for t in torch_threads(report)
        }
        best = (min if metric.lower_is_better else max)(theirs, key=theirs.get)
        peer = (
            metric.text(theirs[best]),
            f"nn.{PEERS[cell].module}",
            best,
            f"{mine / theirs[best]:.2f}",
        )
    else:
        peer = ("-",) * 4
    return (
        f"| {cell} | {cfg.name} | {metric.label} | {metric.text(mine)} | "
        + " | ".join(map(str, peer))
        + " |"
    )


def table(report):
    """Markdown rows of medians over rounds, the cells of a configuration together."""
    rows = [
        "| cell | config | metric | charrnn | PyTorch | PyTorch module | PyTorch threads "
        "| charrnn / PyTorch |",
        "|---|---|---|---:|---:|---|---:|---:|",
    ]
    for cfg in report.options.configs:
        for cell in report.options.cells:
            rows += [r for m in metrics(report, cell, cfg) if (r := row(report, cell, cfg, m))]
    return rows


def above_loop(command, loop):
    """What a whole command's peak RSS adds to its training loop's (medians, MB)."""
    return median_of(command, "peak_rss_mb") - median_of(loop, "peak_rss_mb")


def command_note(report, cell, cfg):
    """The whole commands' final validation losses (did both do the same job?), wall
    times, and what each adds to its training loop's peak (validation, checkpoints,
    the corpus), when the train task ran too."""
    ours = report.runs(cell, cfg, "command")
    losses = [f"charrnn {median_of(ours, 'val_loss'):.3f}"]
    times = [f"charrnn {median_of(ours, 'seconds'):.1f} s"]
    added = []
    default = report_train.default_precision(report.environment)  # the command's products
    if loop := report.runs(cell, cfg, "train", impl_name(default)):
        added.append(f"charrnn {above_loop(ours, loop):+.0f} MB (against its {default} loop)")
    if cell in PEERS:  # at the thread count of the table's row: the lower peak
        theirs = {t: report.runs(cell, cfg, "command", "torch", t) for t in torch_threads(report)}
        t = min(theirs, key=lambda t: median_of(theirs[t], "peak_rss_mb"))
        losses.append(f"PyTorch {median_of(theirs[t], 'val_loss'):.3f} ({t}t)")
        times.append(f"PyTorch {median_of(theirs[t], 'seconds'):.1f} s ({t}t)")
        if loop := report.runs(cell, cfg, "train", "torch", t):
            added.append(f"PyTorch {above_loop(theirs[t], loop):+.0f} MB ({t}t)")
    line = (
        f"- {cell} {cfg.name} whole command: {ours[0]['steps']} steps, validation over "
        f"{report.environment['val_chars']:,} chars and checkpoints every "
        f"{ours[0]['eval_every']} ({ours[0]['validations']} runs); final validation loss "
        f"{', '.join(losses)}; wall time {', '.join(times)}"
    )
    if added:
        line += f"; whole command minus training loop (peak RSS medians): {', '.join(added)}"
    return line


def notes(report):
    """The paragraphs under the table: peers, FLOP count, per-run notes, total time."""
    cells = report.options.cells
    lines = [PEERS[c].note + ".\n" for c in cells if c in PEERS and PEERS[c].note]
    if unpaired := [c for c in cells if c not in PEERS]:
        lines.append(f"{', '.join(unpaired)}: no PyTorch peer, charrnn's figures only ('-').\n")
    lines += [
        f"Medians over rounds.  Training GFLOP/s / matmul peak: achieved training "
        "FLOP rate over the NumPy float32 matmul peak at the same thread count; "
        f"{FLOP_COUNT}.  Peak RSS training is the whole worker process (interpreter, "
        "libraries, data, training loop); peak RSS whole command is the training "
        "command's process alone (ru_maxrss from os.wait4): corpus, training, "
        "validation runs, checkpoints."
    ]
    for cfg in report.options.configs:
        for cell in cells:
            if "train" in report.options.tasks:
                lines += report_train.notes(report, cell, cfg, report.flops(cell, cfg))
            if report.runs(cell, cfg, "command"):
                lines.append(command_note(report, cell, cfg))
    return lines + ["", f"Total time {report.seconds:.0f} s."]


def render(raw):
    """The whole report, as text."""
    report = load(raw)
    training = report_train.section(report)
    return "\n".join(
        header(report)
        + [""]
        + table(report)
        + [""]
        + (training + [""] if training else [])
        + notes(report)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", help="the JSON file bench/measure.py wrote")
    args = parser.parse_args()
    with open(args.raw) as f:
        print(render(json.load(f)))


if __name__ == "__main__":
    main()
