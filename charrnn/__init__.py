"""charrnn: character-level recurrent language models on the CPU, with a Numba core.

The library the command line is built on (docs/api.md):

    import charrnn
    run = charrnn.train("shakespeare.txt", hidden=128, max_time=600)
    model = charrnn.load(run.best_checkpoint)
    print(model.sample(300, temperature=0.8, seed=1))
    print(model.loss(open("held_out.txt").read()).bits_per_char)

Importing charrnn loads no Numba and changes no setting of the process
(docs/api.md: Threads, for the one the command line makes).
"""

import sys
import types

from . import cpus  # noqa: F401  (its load meter starts with the program: kernels/threads.py)
from .api import Beam, Model, Run, info, list_runs, load, run_sweep, train
from .errors import CharrnnError, Interrupted

__all__ = [
    "Beam",
    "CharrnnError",
    "Interrupted",
    "Model",
    "Run",
    "info",
    "list_runs",
    "load",
    "run_sweep",
    "train",
]
VERBS = ("train", "info")  # also the names of modules: charrnn/train.py, charrnn/info.py


class Package(types.ModuleType):
    """charrnn itself.  Python sets a module as an attribute of its package when
    it is first imported; charrnn.train and charrnn.info stay the verbs when
    their modules load (import those by their full names: charrnn.train.train)."""

    def __setattr__(self, name, value):
        if not (name in VERBS and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = Package
