"""A run's loss history: one structured array of rows (step, loss, seconds,
chars), kept in memory as the run goes and written to a checkpoint as the
arrays of its format (checkpoint.Checkpoint: ``<name>_history`` (n, 2) of
step and loss, ``<name>_seconds`` and ``<name>_chars`` (n,) beside it)."""

import numpy as np

ROW = np.dtype(
    [
        ("step", np.int64),
        ("loss", np.float64),  # nats per character
        ("seconds", np.float64),  # the run's training seconds, over resumes
        ("chars", np.float64),
    ]
)  # training characters seen; NaN in version-1 rows
FIRST_CAPACITY = 1024  # rows; doubled whenever full, so an append is amortised O(1)


class History:
    """The rows of one history (training or validation), in the order appended."""

    def __init__(self, table, count):
        self._table, self._count = table, count  # table[:count] holds the rows

    @classmethod
    def from_checkpoint(cls, ckpt, name):
        """The ``name`` ("train" or "val") history of ``ckpt``."""
        pairs = np.asarray(getattr(ckpt, f"{name}_history")).reshape(-1, 2)
        count = len(pairs)
        table = np.zeros(max(2 * count, FIRST_CAPACITY), ROW)
        table["step"][:count] = pairs[:, 0]
        table["loss"][:count] = pairs[:, 1]
        table["seconds"][:count] = getattr(ckpt, f"{name}_seconds")
        table["chars"][:count] = getattr(ckpt, f"{name}_chars")
        return cls(table, count)

    def to_checkpoint(self, ckpt, name):
        """Set the ``name`` history arrays of ``ckpt`` to these rows (float64 all)."""
        rows = self.rows
        setattr(
            ckpt,
            f"{name}_history",
            np.stack([rows["step"].astype(np.float64), rows["loss"]], axis=1),
        )
        setattr(ckpt, f"{name}_seconds", rows["seconds"].copy())
        setattr(ckpt, f"{name}_chars", rows["chars"].copy())

    def append(self, step, loss, seconds, chars):
        if self._count == len(self._table):
            self._table = np.concatenate([self._table, np.zeros(len(self._table), ROW)])
        self._table[self._count] = (step, loss, seconds, chars)
        self._count += 1

    @property
    def rows(self):
        """The rows so far: a view, valid until the next append."""
        return self._table[: self._count]

    def __len__(self):
        return self._count

    def last(self):
        """The newest row (a numpy.void: ``row["step"]``, ``row["loss"]``...)."""
        return self._table[self._count - 1]

    def mean_loss_after(self, step):
        """The mean loss of the rows after ``step``, or None if there are none."""
        rows = self.rows
        losses = rows["loss"][rows["step"] > step]  # a contiguous copy: np.mean sums as before
        return float(np.mean(losses)) if len(losses) else None
