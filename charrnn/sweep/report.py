"""What a sweep reports: one row per trial (the summary.json and table of the
sweep directory, the --json objects), built from the Optuna study."""

import json
import math
import os

from .. import files
from ..config import option_name
from ..tables import aligned, clock, number

SUMMARY = "summary.json"
TABLE = "summary.txt"
ORDER = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "cut off": 4, "failed": 5}


def state_of(frozen):
    """A trial's state in the sweep's words.  A trial cut off by a stopped or
    killed sweep is failed in the study with no error of its own (and rerun)."""
    name = frozen.state.name
    if name == "FAIL":
        return "failed" if "error" in frozen.user_attrs else "cut off"
    return {
        "COMPLETE": "complete",
        "PRUNED": "pruned",
        "RUNNING": "running",
        "WAITING": "waiting",
    }.get(name, name.lower())


def row(frozen, sweep_dir, interrupted=False):
    attrs = frozen.user_attrs
    state = state_of(frozen)
    if state == "running" and interrupted:
        state = "cut off"
    reported = [v for v in frozen.intermediate_values.values() if math.isfinite(v)]
    best = frozen.value if state == "complete" else attrs.get("best_val_loss")
    if best is None and reported:
        best = min(reported)
    run_dir = attrs.get("run_dir")
    checkpoint = os.path.join(sweep_dir, run_dir, "best.npz") if run_dir else None
    return {
        "trial": frozen.number,
        "state": state,
        "best_val_loss": best,
        "params": dict(frozen.params),
        "train_seconds": attrs.get("train_seconds"),
        "steps": attrs.get("steps"),
        "chars_per_second": attrs.get("chars_per_second"),
        "run_dir": os.path.join(sweep_dir, run_dir) if run_dir else None,
        "best_checkpoint": checkpoint if checkpoint and os.path.isfile(checkpoint) else None,
        "where": attrs.get("where"),
        "error": attrs.get("error"),
        "rerun_of": attrs.get("rerun_of"),
    }


def rows(study, sweep_dir, interrupted=False):
    found = [row(t, sweep_dir, interrupted) for t in study.get_trials(deepcopy=False)]
    return sorted(
        found,
        key=lambda r: (
            ORDER.get(r["state"], 9),
            r["best_val_loss"] if r["best_val_loss"] is not None else math.inf,
            r["trial"],
        ),
    )


def best(found):
    done = [r for r in found if r["state"] == "complete" and r["best_val_loss"] is not None]
    return min(done, key=lambda r: r["best_val_loss"]) if done else None


def table(found, names):
    """The trials as a text table: best validation loss first, one column per
    searched option."""

    def value(v):
        return format(v, ".4g") if isinstance(v, float) else str(v)

    header = ["trial", "state", "best val", "time", "steps", "char/s"] + [
        option_name(n).removeprefix("--") for n in names
    ]
    lines = [header]
    for r in found:
        lines.append(
            [
                str(r["trial"]),
                r["state"],
                number(r["best_val_loss"], ".4f"),
                clock(r["train_seconds"], hours=False),
                number(r["steps"], ","),
                number(r["chars_per_second"], ",.0f"),
            ]
            + [value(r["params"][n]) if n in r["params"] else "-" for n in names]
        )
    out = aligned(lines, right=range(2, len(header)))
    out += [f"trial {r['trial']}: {r['error']}" for r in found if r["state"] == "failed"]
    return "\n".join(out)


def write(sweep_dir, config, found, names):
    summary = files.json_safe({"sweep": config, "best": best(found), "trials": found})
    text = json.dumps(summary, indent=1, allow_nan=False).encode()
    files.write_atomically(os.path.join(sweep_dir, SUMMARY), lambda f: f.write(text))
    listing = (table(found, names) + "\n").encode()
    files.write_atomically(os.path.join(sweep_dir, TABLE), lambda f: f.write(listing))


def best_checkpoint(sweep_dir):
    """best.npz of a sweep's best complete trial, from its summary; None when
    ``sweep_dir`` is no sweep or has no complete trial yet."""
    try:
        with open(os.path.join(sweep_dir, SUMMARY)) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    top = summary.get("best") or {}
    path = top.get("best_checkpoint")
    return path if path and os.path.isfile(path) else None
