"""The configuration of a training run: every option of ``charrnn train``, its
default, its help and its check, in one dataclass that checkpoints store.

The command line's options are made from these fields (cli.py): a field with
``help`` in its metadata is an option, named by ``option_name``; ``choices``
names the registry its values come from; ``default_text`` says in words a
default that is decided when the run starts.  Numba-free, for the help.
"""

from dataclasses import dataclass, field, fields

from . import cells, cpus, defaults, optimizers
from . import precision as precisions
from . import schedule as schedules
from .errors import CharrnnError, Conflict

MODEL = "model"  # options that shape a model and its training: train's, and a sweep's
# How a run is computed, not what it computes: a resume weighs this machine afresh.
NOT_CARRIED = ("threads",)
RUN = "run"  # how long one run trains and what it keeps: train's (a sweep sets its trials')
# Options that came after runs were first saved: what a run saved without them
# trained with (charrnn 1.0's rate fell by --lr-decay after every epoch).
BEFORE_THE_OPTION = {"reset_rate": 0.0, "precision": "float32", "schedule": "decay"}


def option(default, help, group=MODEL, factory=None, **more):
    """A field that is an option of ``charrnn train``; ``factory`` makes its default."""
    metadata = {"help": help, "group": group, **more}
    if factory:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    cell: str = option(
        "lstm", "The recurrent cell (docs/cells.md has their equations).", choices=cells.CELLS
    )
    hidden: int = option(512, "Units per layer.")
    layers: int = option(2, "Stacked recurrent layers.")
    # None: the cell's default (defaults.default_dropout)
    dropout: float = option(
        None,
        "Drop probability between layers and before the decoder",
        default_text=defaults.dropout_defaults(),
    )
    # T: characters per chunk (truncated BPTT length)
    seq_length: int = option(50, "Characters per chunk: how far back gradients flow.")
    batch_size: int = option(50, "Streams of text trained side by side.")  # B
    # None: the optimizer's default for the cell (defaults.default_lr)
    lr: float = option(
        None, "Learning rate, the peak of --schedule budget", default_text=defaults.lr_defaults()
    )
    optimizer: str = option(
        "adam",
        "The optimizer: "
        + ", ".join(f"{name} ({o.help})" for name, o in optimizers.OPTIMIZERS.items())
        + ".",
        choices=optimizers.OPTIMIZERS,
    )
    grad_clip: float = option(5.0, "Clip the global gradient norm to this; 0: no clipping.")
    weight_decay: float = option(
        0.0, "Adam's decoupled weight decay (AdamW): every weight shrinks by lr * this a step."
    )
    variational: bool = option(
        False, "Dropout masks shared by all steps of a chunk (variational dropout)."
    )
    reset_rate: float = option(
        0.02,
        "Chance per stream and step that its hidden state starts "
        "again from zero, as it does when sampling or evaluating: keeps "
        "the model sound from a zero state anywhere in a text.",
    )
    lr_decay: float = option(
        1.0, "Multiply the learning rate by this after every epoch (--schedule decay)."
    )
    # None: schedules.resolve picks
    schedule: str = option(
        None,
        "The learning rate over the run: "
        + ", ".join(f"{name} ({what})" for name, what in schedules.SCHEDULES.items()),
        default_text=schedules.DEFAULT,
        choices=schedules.SCHEDULES,
    )
    epochs: int = option(50, "Stop after this many passes over the training text.", RUN)
    max_steps: int = option(None, "Stop after this many steps.", RUN)
    max_time: float = option(
        None, "Stop after training this long in all (over resumes), e.g. 10m or 1h30m.", RUN
    )  # seconds
    max_chars: int = option(
        None,
        "Stop after training on this many characters in all (over "
        "resumes), e.g. 20M: the same budget on any machine.",
        RUN,
    )
    val_frac: float = option(0.05, "The last fraction of the text held out for validation.")
    eval_every: int = option(
        250,
        "Steps between validation runs (each writes checkpoints), or "
        "the training time between them with its unit (30s, 2m).",
        RUN,
    )
    # Instead: training seconds between them (sweeps compare on time); --eval-every sets it.
    eval_seconds: float = field(default=None, metadata={"set_by": "eval_every"})
    precision: str = option("auto", precisions.HELP, choices=precisions.CHOICES)
    seed: int = option(0, "Seed for weights and dropout.")
    threads: int = option(
        None,
        cpus.THREADS_HELP,
        default_text=cpus.THREADS_DEFAULT,
    )
    encoding: str = option("utf-8", "Text encoding of CORPUS.")
    # newest step files kept besides best.npz and last.npz; None: all
    keep: int = option(
        5, "Step files kept besides best.npz and last.npz (the newest); 'all' or 0.", RUN
    )

    def __post_init__(self):
        if self.dropout is None:
            self.dropout = defaults.default_dropout(self.cell)

    def check(self):
        """Reject bad values before any work, naming the option."""
        for f in fields(self):
            choices, value = f.metadata.get("choices"), getattr(self, f.name)
            if choices is not None and value is not None and value not in choices:
                raise CharrnnError(f"{option_name(f.name)} must be one of {', '.join(choices)}")
        positive = {
            "hidden": self.hidden,
            "layers": self.layers,
            "seq_length": self.seq_length,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "eval_every": self.eval_every,
            "threads": 1 if self.threads is None else self.threads,
        }
        for name, value in positive.items():
            if value < 1:
                raise CharrnnError(f"{option_name(name)} must be at least 1, not {value}")
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
            raise Conflict(
                f"--weight-decay is Adam's (AdamW); not for --optimizer {self.optimizer}"
            )
        if not self.grad_clip >= 0:
            raise CharrnnError(f"--grad-clip must be >= 0, not {self.grad_clip}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise CharrnnError(f"--lr-decay must be in (0, 1], not {self.lr_decay}")
        if self.lr_decay != 1.0 and self.schedule not in (None, "decay"):
            raise Conflict(
                f"--lr-decay is a factor of --schedule decay; --schedule "
                f"{self.schedule} sets the rate itself"
            )
        if self.keep is not None and self.keep < 0:
            raise CharrnnError(f"--keep must be >= 0 or 'all', not {self.keep}")
        if self.eval_seconds is not None and not self.eval_seconds > 0:
            raise CharrnnError(f"--eval-every must be longer than zero, not {self.eval_seconds} s")
        if self.max_steps is not None and self.max_steps < 1:
            raise CharrnnError(f"--max-steps must be at least 1, not {self.max_steps}")
        if self.seed < 0:
            raise CharrnnError(f"--seed must be a number >= 0, not {self.seed}")
        if self.max_chars is not None and self.max_chars < 1:
            raise CharrnnError(f"--max-chars must be at least 1, not {self.max_chars}")


def config_of(given, saved=None):
    """The TrainConfig of a run: the options ``given`` (by field); the others
    continue the run being resumed (``saved``: its checkpoint's train_config),
    else take their defaults.  A field set by another option and that option
    (eval_seconds and eval_every: --eval-every) are given together; a run saved
    before an option existed trained with what BEFORE_THE_OPTION says."""
    unknown = sorted(set(given) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise CharrnnError(f"train has no option {unknown[0]!r}")
    together = set(given)
    for f in fields(TrainConfig):
        if f.metadata.get("set_by") in given or f.name in given:
            together |= {f.name, f.metadata.get("set_by", f.name)}
    options = dict(given)
    for f in fields(TrainConfig):
        if saved is None or f.name in together or f.name in NOT_CARRIED:
            continue
        if f.name in saved:
            options[f.name] = saved[f.name]
        elif f.name in BEFORE_THE_OPTION:
            options[f.name] = BEFORE_THE_OPTION[f.name]
    return TrainConfig(**options)


def option_fields(group=None):
    """The fields of TrainConfig that are options (of ``group``, MODEL or RUN), in order."""
    return [
        f
        for f in fields(TrainConfig)
        if "help" in f.metadata and group in (None, f.metadata["group"])
    ]


def option_name(field_name):
    """The command-line option of a configuration field: max_time -> --max-time."""
    return "--" + field_name.replace("_", "-")
