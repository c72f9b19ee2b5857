"""Loss curves of runs: what ``charrnn plot`` draws, in the terminal (plotext)
or into a PNG (matplotlib's Agg backend), both from the optional extra
``charrnn[plot]``.

A run's curves are its checkpoint's histories: the training loss of every
step (drawn as the mean of each window of steps: a raw step's loss is too
noisy to read) and the validation loss of every validation run, against
steps, training characters seen or training wall-clock seconds.
"""

import io
import math
import os
from dataclasses import dataclass

import numpy as np

from . import checkpoint, files
from .errors import CharrnnError

AXES = {"step": "step", "chars": "characters seen", "time": "training time"}
TICKS = 7  # the x axis is cut into at most this many parts, at round values
# Round steps between ticks of the time axis (seconds); beyond, round hours.
TIME_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600)
TERMINAL_COLORS = ("blue", "red", "green", "orange", "magenta", "cyan")  # a run's two curves alike
POINTS = 200  # the training curve is averaged down to about this many points


@dataclass
class Curves:
    name: str
    train: tuple  # (x, loss), averaged over windows of steps
    val: tuple  # (x, loss) at every validation run


def load_curves(path, x):
    """The Curves of a run directory (its last.npz, else best.npz) or a checkpoint."""
    name = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        found = [
            os.path.join(path, n)
            for n in ("last.npz", "best.npz")
            if os.path.isfile(os.path.join(path, n))
        ]
        if not found:
            raise CharrnnError(f"{path}: no last.npz or best.npz in it")
        path = found[0]
    else:
        name = os.path.splitext(name)[0]
        parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
        name = f"{parent}/{name}" if parent else name
    ckpt = checkpoint.load(path, weights=False)
    train = _axis(ckpt, "train", x, path)
    val = _axis(ckpt, "val", x, path)
    return Curves(name, _windowed(*train), val)


def _axis(ckpt, which, x, path):
    history = getattr(ckpt, f"{which}_history")
    if x == "step":
        xs = history[:, 0]
    else:
        xs = getattr(ckpt, f"{which}_{'chars' if x == 'chars' else 'seconds'}")
        if len(xs) and np.isnan(xs).any():
            raise CharrnnError(
                f"{path}: written by charrnn 1.0, whose histories have no times "
                f"or characters; plot it against steps (--x step)"
            )
    return np.asarray(xs, np.float64), np.asarray(history[:, 1], np.float64)


def _windowed(xs, losses):
    """Means over consecutive windows, about POINTS of them."""
    n = len(losses)
    if n <= POINTS:
        return xs, losses
    window = -(-n // POINTS)
    cut = n // window * window
    means = losses[:cut].reshape(-1, window).mean(axis=1)
    ends = xs[window - 1 : cut : window]
    return ends, means


def terminal(runs, x, width=None, height=None, color=False):
    """The plot as text for a terminal: in colours (ANSI) with ``color``, else
    told apart by the legend's order and the validation runs' dots."""
    import plotext as plt

    plt.clear_figure()
    plt.theme("pro" if color else "clear")
    if width or height:
        plt.plotsize(width, height)
    for i, run in enumerate(runs):
        shade = {"color": TERMINAL_COLORS[i % len(TERMINAL_COLORS)]} if color else {}
        plt.plot(list(run.train[0]), list(run.train[1]), label=f"{run.name} train", **shade)
        if len(run.val[0]):
            plt.plot(
                list(run.val[0]), list(run.val[1]), label=f"{run.name} val", marker="dot", **shade
            )
    plt.xticks(*x_ticks(runs, x))
    plt.xlabel(AXES[x])
    plt.ylabel("loss (nats/char)")
    return plt.build()


def png(runs, x, path):
    """Write the plot to ``path`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for i, run in enumerate(runs):
        color = f"C{i % 10}"
        ax.plot(run.train[0], run.train[1], color=color, alpha=0.5, label=f"{run.name} train")
        ax.plot(run.val[0], run.val[1], color=color, marker="o", label=f"{run.name} val")
    positions, labels = x_ticks(runs, x)
    ax.set_xticks(positions)
    ax.set_xticklabels(labels)
    ax.set_xlabel(AXES[x])
    ax.set_ylabel("loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    image = io.BytesIO()
    try:
        fig.savefig(image, format="png")
    finally:
        plt.close(fig)
    files.write_atomically(path, lambda f: f.write(image.getvalue()))


def x_ticks(runs, x):
    """(positions, labels) of the x axis's ticks: round values in readable
    units, 250k and 1.5M characters, 2.5k steps, 1h30m of training."""
    xs = [float(v) for run in runs for v in (*run.train[0], *run.val[0])]
    if not xs:
        return [], []
    lo, hi = min(xs), max(xs)
    wanted = max(hi - lo, 1e-3) / TICKS
    if x == "time":
        step, label = time_step(wanted), duration_text
    else:
        step, label = max(round_step(wanted), 1), count_text  # whole steps and characters
    positions = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
    return positions, [label(p) for p in positions]


def round_step(wanted):
    """The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least ``wanted``."""
    power = 10.0 ** math.floor(math.log10(wanted))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= wanted * (1 - 1e-9))


def time_step(wanted):
    """The round step of the time axis (seconds) that is at least ``wanted``:
    a fraction of a second, TIME_STEPS, or round hours."""
    if wanted < 1:
        return round_step(wanted)
    return next((s for s in TIME_STEPS if s >= wanted), None) or 3600 * round_step(wanted / 3600)


def count_text(n):
    """A count for an axis: 750, 2.5k, 318k, 1.25M."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.4g}{unit}"
    return f"{n:.4g}"


def duration_text(seconds):
    """Seconds for an axis, as --max-time takes them: 0.5s, 45s, 10m, 1h30m, 0."""
    if seconds != round(seconds):
        return f"{seconds:.3g}s"
    s = round(seconds)
    parts = ((s // 3600, "h"), (s // 60 % 60, "m"), (s % 60, "s"))
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0"
