"""The training part of the report (bench/report.py): four contenders side
by side for every (cell, configuration), and their notes.

  * charrnn float32       ("charrnn": Workspace("float32"))
  * charrnn bfloat16      ("charrnn:bfloat16": the products' operands in bfloat16
                          on AMX tiles, sums in float32; only where the CPU has AMX)
  * PyTorch float32       ("torch")
  * PyTorch autocast      ("torch:autocast": forward and loss in
                          torch.autocast("cpu", dtype=torch.bfloat16))

Each figure is the median of the rounds' chars/s with its spread, max/min - 1
across rounds; each PyTorch mode takes its better thread count, named.  The
ratios: charrnn bfloat16 / charrnn float32, charrnn float32 / PyTorch
float32, and charrnn's default (what `charrnn train --precision auto` picks
on the machine: bfloat16 where it has AMX, else float32) / PyTorch's faster
mode.
"""

import statistics
from dataclasses import dataclass

from charrnn_side import impl_name
from torch_side import PEERS, TORCH_THREADS, TRAIN_IMPLS

OURS = {"float32": "charrnn float32", "bfloat16": "charrnn bfloat16"}  # precision -> column
THEIRS = {"torch": "PyTorch float32", "torch:autocast": "PyTorch autocast"}  # impl -> column
NOT_MEASURED = "-"


@dataclass(frozen=True)
class Figure:
    """One contender's training chars/s: median and spread over the rounds."""

    impl: str
    threads: int
    median: float
    spread: float  # max / min - 1 across rounds
    runs: list

    def text(self, with_threads=False):
        at = f" ({self.threads}t)" if with_threads else ""
        return f"{self.median:,.0f} +{self.spread:.1%}{at}"


def figure(runs, impl, threads):
    """The Figure of one contender's runs (None: not measured)."""
    if not runs:
        return None
    rates = [r["chars_per_s"] for r in runs]
    return Figure(impl, threads, statistics.median(rates), max(rates) / min(rates) - 1, runs)


def torch_threads(report):
    """The thread counts PyTorch ran with, as the raw file recorded them (older
    files: TORCH_THREADS)."""
    return tuple(report.environment.get("threads", {}).get("torch", TORCH_THREADS))


def default_precision(environment):
    """What `charrnn train --precision auto` picked on the measuring machine (the
    raw file's environment; older files: float32, the only precision then)."""
    return environment.get("auto_training_precision", "float32")


def contenders(report, cell, cfg):
    """{column: Figure or None} of the four, PyTorch's at its better thread count."""
    threads = report.options.threads
    found = {
        column: figure(
            report.runs(cell, cfg, "train", impl_name(p), threads), impl_name(p), threads
        )
        for p, column in OURS.items()
    }
    for impl, column in THEIRS.items():
        figures = [
            figure(report.runs(cell, cfg, "train", impl, t), impl, t) for t in torch_threads(report)
        ]
        figures = [f for f in figures if f is not None]
        found[column] = max(figures, key=lambda f: f.median) if figures else None
    return found


def ratio(mine, theirs):
    return f"{mine.median / theirs.median:.2f}" if mine and theirs else NOT_MEASURED


def ratios(report, found):
    """(bfloat16 / float32 of charrnn, charrnn float32 / PyTorch float32,
    charrnn default / PyTorch's faster mode, that mode's column)."""
    measured = [found[c] for c in THEIRS.values() if found[c]]
    faster = max(measured, key=lambda f: f.median) if measured else None
    return (
        ratio(found[OURS["bfloat16"]], found[OURS["float32"]]),
        ratio(found[OURS["float32"]], found[THEIRS["torch"]]),
        ratio(found[OURS[default_precision(report.environment)]], faster),
        THEIRS[faster.impl].removeprefix("PyTorch ") if faster else NOT_MEASURED,
    )


def table(report):
    """The Markdown table of the four contenders and the three ratios."""
    default = default_precision(report.environment)
    rows = [
        "| cell | config | charrnn float32 | charrnn bfloat16 | PyTorch float32 "
        "| PyTorch autocast | charrnn bf16 / f32 | charrnn f32 / PyTorch f32 "
        f"| charrnn default ({default}) / PyTorch faster | PyTorch faster |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for cfg in report.options.configs:
        for cell in report.options.cells:
            found = contenders(report, cell, cfg)
            if not any(found.values()):
                continue
            texts = [
                f.text(with_threads=column in THEIRS.values()) if f else NOT_MEASURED
                for column, f in found.items()
            ]
            rows.append(
                f"| {cell} | {cfg.name} | " + " | ".join(texts + list(ratios(report, found))) + " |"
            )
    return rows


def bfloat16_left_out(report):
    """Why charrnn bfloat16 has no figures, or None when it was measured."""
    if "bfloat16" in report.options.train_precisions:
        return None
    amx = report.environment.get("amx")
    if amx is False:
        return (
            "charrnn bfloat16 not measured: this machine has no AMX tiles for charrnn "
            "(charrnn.kernels.amx.AVAILABLE is False)"
        )
    if amx is None:
        return "charrnn bfloat16 not measured: the raw file predates bfloat16 training"
    return "charrnn bfloat16 not measured: left out by --train-precisions"


def section(report):
    """The training section: a heading, what the columns are, the table."""
    if "train" not in report.options.tasks:
        return []
    default = default_precision(report.environment)
    threads = " and ".join(map(str, torch_threads(report)))
    lines = [
        "## Training: charrnn float32 and bfloat16, PyTorch float32 and bfloat16 autocast\n",
        f"Training chars/s, medians over rounds, + spread (max/min - 1 across rounds). "
        f"charrnn with {report.options.threads} threads; each PyTorch mode at the better "
        f"of {threads} threads (named). PyTorch autocast: forward and loss inside "
        'torch.autocast("cpu", dtype=torch.bfloat16), backward and Adam outside. '
        f"charrnn default: what `charrnn train --precision auto` picks on this machine, "
        f"{default}. PyTorch faster: the faster of its two modes.\n",
    ]
    if reason := bfloat16_left_out(report):
        lines.append(f"{reason}.\n")
    if unpaired := [c for c in report.options.cells if c not in PEERS]:
        lines.append(f"{', '.join(unpaired)}: no PyTorch peer ('-').\n")
    return lines + table(report)


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def notes(report, cell, cfg, flops):
    """Per contender and thread count: GFLOP/s, the loss after the timed steps,
    RSS before training and its peak; which dtypes autocast ran in."""
    runs = [(impl_name(p), report.options.threads) for p in report.options.train_precisions] + [
        (impl, t) for impl in TRAIN_IMPLS for t in torch_threads(report)
    ]
    found = [(i, t, r) for i, t in runs if (r := report.runs(cell, cfg, "train", i, t))]

    def each(key, scale=1.0, digits=0):
        return ", ".join(
            f"{name(i)} {median(r, key) * scale:.{digits}f} ({t}t)" for i, t, r in found
        )

    lines = [
        f"- {cell} {cfg.name}: {flops / 1e6:.2f} MFLOP per training char; training "
        f"GFLOP/s {each('chars_per_s', flops / 1e9, 1)}",
        f"  loss after the timed steps: {each('loss', digits=3)}",
        f"  RSS after imports and data, before training (MB): {each('rss_before_mb')}; "
        f"peak RSS training (MB): {each('peak_rss_mb')}",
    ]
    autocast = [r[0] for i, _, r in found if i == "torch:autocast" and "rnn_dtype" in r[0]]
    if autocast:
        lines.append(
            f"  PyTorch autocast ran nn.{PEERS[cell].module}'s output in "
            f"{autocast[0]['rnn_dtype']}, the logits in {autocast[0]['logits_dtype']}"
        )
    return lines


def name(impl):
    """A contender's name in the notes."""
    return {impl_name(p): c for p, c in OURS.items()}.get(impl) or THEIRS[impl]
