"""The configuration of a training run: every option of ``charrnn train``, its
default and its check, in one dataclass that checkpoints store."""
from dataclasses import dataclass, field

from . import cells, optim
from . import schedule as schedules
from .defaults import default_dropout
from .errors import CharrnnError
from .kernels.threads import default_threads


@dataclass
class TrainConfig:
    cell: str = "lstm"         # the recurrent cell, a name in cells.CELLS
    hidden: int = 512          # units per layer
    layers: int = 2
    dropout: float = None      # None: the cell's default (defaults.default_dropout)
    seq_length: int = 50       # T: characters per chunk (truncated BPTT length)
    batch_size: int = 50       # B: streams trained side by side
    lr: float = None           # None: the optimizer's default for the cell (defaults.default_lr)
    optimizer: str = "adam"
    grad_clip: float = 5.0     # global norm; 0 turns clipping off
    weight_decay: float = 0.0  # Adam's, decoupled (AdamW)
    variational: bool = False  # dropout masks shared across the steps of a chunk
    reset_rate: float = 0.02   # chance per stream and step that its state starts from zero
    lr_decay: float = 1.0      # learning rate factor applied after every epoch (schedule decay)
    schedule: str = None       # schedules.SCHEDULES; None: schedules.resolve picks
    epochs: int = 50
    max_steps: int = None
    max_time: float = None     # training seconds over the whole run, resumes included
    max_chars: int = None      # training characters over the whole run (the same on any machine)
    val_frac: float = 0.05     # the last fraction of the text is validation
    eval_every: int = 250      # steps between validation runs and checkpoints
    eval_seconds: float = None  # instead: training seconds between them (sweeps compare on time)
    seed: int = 0
    threads: int = field(default_factory=default_threads)  # work blocks, one per thread
    encoding: str = "utf-8"
    keep: int = 5              # newest step files kept besides best.npz and last.npz; None: all

    def __post_init__(self):
        if self.dropout is None:
            self.dropout = default_dropout(self.cell)

    def check(self):
        """Reject bad values before any work, naming the option."""
        positive = {"hidden": self.hidden, "layers": self.layers, "seq-length": self.seq_length,
                    "batch-size": self.batch_size, "epochs": self.epochs,
                    "eval-every": self.eval_every, "threads": self.threads}
        for name, value in positive.items():
            if value < 1:
                raise CharrnnError(f"--{name} must be at least 1, not {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise CharrnnError(f"--dropout must be in [0, 1), not {self.dropout}")
        if not 0.0 < self.val_frac < 1.0:
            raise CharrnnError(f"--val-frac must be between 0 and 1, not {self.val_frac}")
        if self.lr is not None and not self.lr > 0:
            raise CharrnnError(f"--lr must be positive, not {self.lr}")
        if not 0.0 <= self.reset_rate <= 1.0:
            raise CharrnnError(f"--reset-rate must be in [0, 1], not {self.reset_rate}")
        if not 0.0 <= self.weight_decay < 1.0:
            raise CharrnnError(f"--weight-decay must be in [0, 1), not {self.weight_decay}")
        if self.weight_decay and self.optimizer != "adam":
            raise CharrnnError("--weight-decay is Adam's (AdamW); not for --optimizer "
                               f"{self.optimizer}")
        if not self.grad_clip >= 0:
            raise CharrnnError(f"--grad-clip must be >= 0, not {self.grad_clip}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise CharrnnError(f"--lr-decay must be in (0, 1], not {self.lr_decay}")
        if self.schedule is not None and self.schedule not in schedules.SCHEDULES:
            raise CharrnnError(f"--schedule must be one of {', '.join(schedules.SCHEDULES)}")
        if self.lr_decay != 1.0 and self.schedule not in (None, "decay"):
            raise CharrnnError(f"--lr-decay is a factor of --schedule decay; --schedule "
                               f"{self.schedule} sets the rate itself")
        if self.keep is not None and self.keep < 0:
            raise CharrnnError(f"--keep must be >= 0 or 'all', not {self.keep}")
        if self.eval_seconds is not None and not self.eval_seconds > 0:
            raise CharrnnError(f"--eval-every must be longer than zero, not {self.eval_seconds} s")
        if self.max_steps is not None and self.max_steps < 1:
            raise CharrnnError(f"--max-steps must be at least 1, not {self.max_steps}")
        if self.max_chars is not None and self.max_chars < 1:
            raise CharrnnError(f"--max-chars must be at least 1, not {self.max_chars}")
        if self.optimizer not in optim.OPTIMIZERS:
            raise CharrnnError(f"--optimizer must be one of {', '.join(optim.OPTIMIZERS)}")
        if self.cell not in cells.CELLS:
            raise CharrnnError(f"--cell must be one of {', '.join(cells.CELLS)}")


def option_name(field_name):
    """The command-line option of a configuration field: max_time -> --max-time."""
    return "--" + field_name.replace("_", "-")
