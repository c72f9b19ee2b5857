"""Training: batches -> forward/backward -> clip -> optimizer -> checkpoints.

``train`` is the one call; the run is built in training/:

    start.py     its data, budget, first checkpoint (new or resumed), compiled kernels
    loop.py      the loop: step, validate when due, save, stop (Run, RunState)
    history.py   the loss histories, one structured array each
    progress.py  the progress bar

Everything the loop changes (weights, optimizer state, learning rate,
position, hidden state, random generator) is saved in every checkpoint, so
``resume`` continues bit for bit.
"""

from . import runs
from .config import BEFORE_THE_OPTION, TrainConfig
from .errors import CharrnnError
from .training.loop import reset_streams, train_loop
from .training.start import FIXED_ON_RESUME, start

__all__ = [
    "train",
    "error_end",
    "TrainConfig",
    "reset_streams",
    "BEFORE_THE_OPTION",
    "FIXED_ON_RESUME",
]


def train(
    corpus_path, cfg, out_dir, quiet=False, log=print, resume=None, run_dir=None, on_event=None
):
    """Train on ``corpus_path``, or continue the checkpoint ``resume``;
    checkpoints go to ``out_dir``.  Returns the final Checkpoint.

    ``run_dir``: the runs.RunDir of ``out_dir`` when the caller has claimed it
    (runs.claim); otherwise this claims it, refusing a directory that holds
    another run.  ``on_event(dict)`` is called after every validation run and
    once at the end, however the run ends (the objects of ``train --json``).
    """
    cfg.check()
    if run_dir is None:
        run_dir = runs.claim(out_dir, explicit=True, force=False, resume=resume, log=log)
    ended = []

    def event(e):
        ended.append(e["event"] == "end")
        if on_event:
            on_event(e)

    with run_dir.lock:
        try:
            run, state = start(corpus_path, cfg, run_dir, resume, event, log, quiet)
            return train_loop(run, state)
        except CharrnnError as e:
            if not any(ended):  # a refusal or a failed write: scripts still get an end
                event(error_end(run_dir.path, e))
            raise


END_FIELDS = (
    "event",
    "run_dir",
    "steps",
    "epochs",
    "best_val_loss",
    "best_checkpoint",
    "last_checkpoint",
    "elapsed_seconds",
    "train_seconds",
    "precision",
    "stopped",
    "error",
)


def error_end(run_dir, error):
    """The end event of a run stopped by an error: what is not known is None."""
    return {
        **dict.fromkeys(END_FIELDS),
        "event": "end",
        "run_dir": run_dir,
        "stopped": "error",
        "error": str(error),
    }
