"""Text tables for people: ``charrnn runs``'s (its columns and the keys it sorts
by), and the helpers that a sweep's table (sweep/report.py) shares with it.
Numba-free: the command line's help lists the keys."""

from .config import option_name
from .epochs import epochs_text
from .run_options import option_text

# What ``runs --sort`` takes: its name for each field of runs.RUN_FIELDS it sorts by.
SORT_KEYS = {
    "best": "best_val_loss",
    "last": "last_val_loss",
    "name": "run",
    "steps": "steps",
    "epochs": "epochs",
    "params": "parameters",
    "time": "train_seconds",
    "written": "written",
    "cell": "cell",
    "corpus": "corpus",
}
ASCENDING = ("best", "last", "name", "cell", "corpus")  # the others: newest or largest first
RUN_COLUMNS = (
    "run",
    "status",
    "cell",
    "size",
    "params",
    "steps",
    "epochs",
    "best",
    "last",
    "time",
    "corpus",
    "sha256",
    "written",
)
RIGHT = ("params", "steps", "epochs", "best", "last", "time")  # right-aligned


def runs_table(rows):
    """The runs (runs.list_runs) as a text table, a column for each train
    option in which they differ (--lr) after their time, with why each
    damaged one is, below it."""
    names = differing_names(rows)
    at = RUN_COLUMNS.index("time") + 1
    header = list(RUN_COLUMNS[:at]) + [option_name(n) for n in names] + list(RUN_COLUMNS[at:])
    lines = [header]
    for r in rows:
        status = r["status"]
        if status == "training" and r["holder"]:
            status += " (" + r["holder"].split(",")[0] + ")"  # "training (pid 123)"
        options = [option_text(r["options"], n) if r["options"] else "-" for n in names]
        columns = [
            r["run"],
            status,
            r["cell"] or "-",
            f"{r['layers']}x{r['hidden']}" if r["layers"] else "-",
            number(r["parameters"], ","),
            number(r["steps"], ","),
            epochs_text(r["epochs"]),
            number(r["best_val_loss"], ".4f"),
            number(r["last_val_loss"], ".4f"),
            clock(r["train_seconds"], hours=True),
            r["corpus"] or "-",
            (r["corpus_sha256"] or "-")[:12],
            (r["written"] or "-")[:19].replace("T", " "),
        ]
        lines.append(columns[:at] + options + columns[at:])
    out = aligned(lines, right={header.index(name) for name in RIGHT})
    out += [f"{r['run']}: {r['error']}" for r in rows if r["status"] == "damaged"]
    return "\n".join(out)


def differing_names(rows):
    """The options in which the runs differ (runs.list_runs' ``options``),
    --eval-every's two fields as one."""
    found = next((r["options"] for r in rows if r["options"]), {})
    return [name for name in found if name != "eval_seconds"]


def number(x, fmt):
    """``x`` formatted, or "-" when it is not known."""
    return "-" if x is None else format(x, fmt)


def clock(seconds, *, hours):
    """A duration as h:mm:ss (with ``hours``) or m:ss, or "-" when it is not known."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if hours:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def aligned(lines, right):
    """``lines`` (lists of strings, the header first) as columns two spaces
    apart: the columns whose index is in ``right`` aligned right, the others left."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  ".join(
            value.rjust(width) if i in right else value.ljust(width)
            for i, (value, width) in enumerate(zip(line, widths))
        ).rstrip()
        for line in lines
    ]
