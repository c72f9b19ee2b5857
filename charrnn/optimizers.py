"""The optimizers, in the one table that names them: what each keeps and its
default learning rate.  Numba-free, so that the command line knows them
without compiling anything; each update is a kernel of optim.py, found by name.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Optimizer:
    state: tuple  # its arrays, each the size of the parameter buffer (saved in checkpoints)
    lr: float  # its default peak rate (defaults.default_lr: some cells have their own)
    help: str


OPTIMIZERS = {
    "adam": Optimizer(("m", "v"), 2e-3, "Adam; AdamW with --weight-decay"),
    "rmsprop": Optimizer(("mean_square",), 2e-3, "RMSprop"),
    "adagrad": Optimizer(("sum_square",), 0.1, "Adagrad"),
    "sgd": Optimizer(("velocity",), 0.1, "SGD with momentum 0.9"),
}
