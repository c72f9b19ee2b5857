"""The training options whose best value depends on the cell, as measured
(docs/training.md: the learning rate over the budget; docs/cells.md).  Numba-free:
the help of --lr and --dropout is written from these tables."""

from .cells import CELLS
from .optimizers import OPTIMIZERS

# Under the budget schedule the gated cells learn fastest from a higher peak
# than 2e-3. The GRU's best in short trials was 8e-3, but 1.2e-2 diverged
# there, and a 30-minute run from a 6e-3 peak collapsed at step 1,609 (its
# rate then 5.4e-3; validation 1.61 -> 3.40). Resumed from step 1,500 it
# collapsed again at a constant 5.4e-3, not at 5e-3 or 4e-3.
DEFAULT_LR_OF_CELL = {
    ("adam", "lstm"): 6e-3,
    ("adam", "gru"): 4e-3,
    ("adam", "mut1"): 4e-3,
    ("adam", "mut2"): 4e-3,
    ("adam", "mut3"): 8e-3,
}

DEFAULT_DROPOUT = 0.1  # pays off from a few epochs on
# The GRU overfits by its ten minutes at 0.1 (train 1.15, validation 1.463 at
# 5M characters); 0.2 reached 1.454 there, 0.3 1.463. In 30 minutes 0.3 is
# better (1.454 against 0.2's 1.476): docs/training.md advises it for long runs.
DEFAULT_DROPOUT_OF_CELL = {"gru": 0.2}


def default_lr(optimizer, cell):
    """The peak rate when --lr is not given."""
    return DEFAULT_LR_OF_CELL.get((optimizer, cell), OPTIMIZERS[optimizer].lr)


def default_dropout(cell):
    """The drop probability when --dropout is not given."""
    return DEFAULT_DROPOUT_OF_CELL.get(cell, DEFAULT_DROPOUT)


def lr_defaults():
    """The defaults of --lr in words, for its help: per cell where they differ by cell."""
    by_cell = dict.fromkeys(optimizer for optimizer, _ in DEFAULT_LR_OF_CELL)
    per_cell = [
        f"for {name}, " + ", ".join(f"{default_lr(name, cell):g} with {cell}" for cell in CELLS)
        for name in by_cell
    ]
    others = [f"{o.lr:g} for {name}" for name, o in OPTIMIZERS.items() if name not in by_cell]
    return "; ".join(per_cell + [", ".join(others)])


def dropout_defaults():
    """The defaults of --dropout in words, for its help."""
    return "; ".join(
        [f"{DEFAULT_DROPOUT:g}"]
        + [
            f"{default_dropout(cell):g} with {cell}"
            for cell in CELLS
            if default_dropout(cell) != DEFAULT_DROPOUT
        ]
    )
