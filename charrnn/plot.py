"""Loss curves of runs: what ``charrnn plot`` draws, in the terminal (plotext)
or into a PNG (matplotlib's Agg backend), both from the optional extra
``charrnn[plot]``.

A run's curves are its checkpoint's histories: the training loss of every
step (drawn as the mean of each window of steps: a raw step's loss is too
noisy to read) and the validation loss of every validation run, against
steps, training characters seen or training wall-clock seconds.
"""

import io
import os
from dataclasses import dataclass

import numpy as np

from . import checkpoint, files
from .errors import CharrnnError

AXES = {"step": "step", "chars": "characters seen", "time": "training time (s)"}
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
