"""The learning rate of every step: a schedule over the run's budget.

``budget`` (the default) knows where the run ends: it warms up over the first
WARMUP of the budget, then decays to FLOOR times the peak exactly at the end
of it.  The budget's position is the larger of the steps done over the steps
that --max-steps, --max-chars or --epochs allow, and the training seconds
over --max-time: whichever will end the run first.  Steps give the same
rates on every machine and resume bit for bit; seconds follow the clock.

``decay`` is charrnn 1.0's: the rate times --lr-decay after every epoch.
``constant`` keeps the peak.  (docs/training.md.)
"""

import math

BUDGET_SHAPE = "cosine"  # what `budget` means: measured against linear (docs/training.md)
WARMUP = 0.02  # of the budget, rising linearly from FLOOR to the peak
FLOOR = 0.05  # of the peak, reached at the end of the budget
# The schedules by name, with what each does (the help of --schedule).
SCHEDULES = {
    "budget": f"warm up, then decay to {FLOOR:.0%} of --lr at the end of --max-time, "
    "--max-steps, --max-chars or --epochs",
    "cosine": f"budget's shape; budget is {BUDGET_SHAPE}",
    "linear": "budget's warm-up, then a straight line down",
    "constant": "--lr throughout",
    "decay": "times --lr-decay after every epoch",
}
DEFAULT = "decay if --lr-decay is given, else budget"  # what resolve picks, in words


def resolve(schedule, lr_decay, resumed_without_schedule=False):
    """The schedule a run uses: as given; else ``decay`` when --lr-decay is
    given (charrnn 1.0's meaning) or the run being resumed predates
    schedules; else the budget's."""
    if schedule is not None:
        return BUDGET_SHAPE if schedule == "budget" else schedule
    if lr_decay != 1.0 or resumed_without_schedule:
        return "decay"
    return BUDGET_SHAPE


def position(step, total_steps, seconds=None, max_seconds=None):
    """How far through its budget a run is, in [0, 1]."""
    done = step / total_steps
    if max_seconds is not None:
        done = max(done, seconds / max_seconds)
    return min(done, 1.0)


def budget_factor(shape, done, warmup=WARMUP, floor=FLOOR):
    """The fraction of the peak rate at ``done`` of the budget."""
    if done < warmup:
        return floor + (1.0 - floor) * done / warmup
    after = (done - warmup) / (1.0 - warmup)  # of the decay, in [0, 1]
    if shape == "cosine":
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * after))
    if shape == "linear":
        return 1.0 - (1.0 - floor) * after
    raise ValueError(f"not a budget schedule: {shape}")


def rate(schedule, peak, done):
    """The learning rate of a step taken at ``done`` of the budget, for the
    schedules that follow the budget (``constant`` too: the peak)."""
    if schedule == "constant":
        return peak
    return peak * budget_factor(schedule, done)
