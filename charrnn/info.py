"""What ``charrnn info`` reports about one checkpoint: a JSON-ready dict and its text form."""

import json
import math
import os

from . import checkpoint, files, runs
from .epochs import epochs_text
from .errors import CharrnnError
from .run_options import rerun_command, training_options


def report(path):
    """Everything in the checkpoint at ``path`` a user may want (the weights aside)."""
    if os.path.isdir(path):
        raise CharrnnError(
            f"{path}: is a directory; name a checkpoint in it (best.npz, "
            "last.npz), or list its runs with charrnn runs"
        )
    ckpt = checkpoint.load(path, weights=False)
    tc = ckpt.train_config
    s = runs.summary(ckpt)
    schedule = json.loads(ckpt.schedule)
    return {
        "path": path,
        "format_version": ckpt.format_version,
        "charrnn_version": ckpt.charrnn_version,
        "model": {
            "cell": s["cell"],
            "layers": s["layers"],
            "hidden": s["hidden"],
            "vocab_size": s["vocab_size"],
            "dropout": ckpt.model.dropout,
            "parameters": s["parameters"],
            "weights_finite": ckpt.finite,
        },
        "training": training_options(ckpt),
        "corpus": {
            "path": tc.get("corpus"),
            "characters": tc.get("corpus_chars"),
            "sha256": tc.get("corpus_file_sha256"),
            "ids_sha256": tc.get("corpus_sha256"),
        },
        "vocabulary": ckpt.vocab.chars,
        "position": {
            "step": ckpt.step,
            "batch_index": ckpt.batch_index,
            "steps_per_epoch": tc.get("steps_per_epoch"),
            "epochs": s["epochs"],
            "lr": ckpt.lr,
            "schedule": schedule.get("name"),
            "budget_done": schedule.get("done"),
            "train_seconds": s["train_seconds"],
            "train_chars": ckpt.chars if ckpt.format_version > 1 else None,
        },
        "histories": {"train": history(ckpt.train_history), "val": history(ckpt.val_history)},
        "best_val_loss": s["best_val_loss"],
        "file_bytes": os.path.getsize(path),
    }


def history(rows):
    """First, best and last (step, loss) of a history, and its length."""
    if not len(rows):
        return {"rows": 0, "first": None, "best": None, "last": None}

    def point(row):
        return {"step": int(row[0]), "loss": files.json_safe(float(row[1]))}

    finite = [r for r in rows if math.isfinite(r[1])]
    return {
        "rows": len(rows),
        "first": point(rows[0]),
        "best": point(min(finite, key=lambda r: r[1])) if finite else None,
        "last": point(rows[-1]),
    }


def describe(facts):
    """The report as text, for people."""
    m, c, p, t = facts["model"], facts["corpus"], facts["position"], facts["training"]

    def h(name):
        row = facts["histories"][name]
        if not row["rows"]:
            return "none"
        return (
            ", ".join(
                f"{k} {loss(row[k])} (step {row[k]['step']:,})"
                for k in ("first", "best", "last")
                if row[k]
            )
            + f"; {row['rows']:,} rows"
        )

    def loss(point):
        return "nan" if point["loss"] is None else f"{point['loss']:.4f}"

    seconds = p["train_seconds"]
    lines = [
        f"{facts['path']}: charrnn checkpoint format {facts['format_version']}, written by "
        f"charrnn {facts['charrnn_version']}, {facts['file_bytes']:,} bytes",
        f"model       {m['layers']}x{m['hidden']} {m['cell'].upper()}, {m['parameters']:,} "
        f"parameters, vocabulary {m['vocab_size']}, dropout {m['dropout']}"
        + ("" if m["weights_finite"] else f"; {runs.NOT_FINITE}"),
        f"corpus      {runs.printable(c['path'])}"
        + (f", {c['characters']:,} characters" if c["characters"] else "")
        + (f", sha256 {runs.printable(c['sha256'])}" if c["sha256"] else ""),
        f"vocabulary  {facts['vocabulary']!r}",
        f"position    step {p['step']:,}"
        + (f", {epochs_text(p['epochs'])} epochs" if p["epochs"] is not None else "")
        + f", learning rate {p['lr']:.4g}"
        + (
            f" ({p['schedule']} schedule, {p['budget_done']:.0%} of the budget)"
            if p["budget_done"] is not None
            else ""
        )
        + (f", {seconds:,.1f} s of training" if seconds else "")
        + (f", {p['train_chars']:,} characters seen" if p["train_chars"] else ""),
        f"train loss  {h('train')}",
        f"val loss    {h('val')}",
        "train again " + runs.printable(rerun_command(t, c["path"] or "CORPUS")),
    ]
    return "\n".join(lines)
