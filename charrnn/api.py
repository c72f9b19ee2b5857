"""The library that the command line is one user of (docs/api.md): the same
verbs, the same results (the same seed writes the same text).

    model = charrnn.load("checkpoints/shakespeare")
    print(model.sample(200, temperature=0.8, seed=1))

Each call imports what it needs when it is called, so that ``import charrnn``
loads no Numba.
"""

import os
import sys
from dataclasses import dataclass, field


def load(path=None):
    """The Model of a checkpoint file; of a run directory, its best.npz; of a
    directory of runs, the newest run's best.npz; of a sweep's directory, its
    best trial's (None: the newest run under checkpoints/)."""
    from . import checkpoint, runs

    found = runs.checkpoint_in(path)
    return Model(found, checkpoint.load(found))


@dataclass
class Beam:
    text: str  # the most probable continuation found, the prime not included
    log_probability: float  # its log-probability given the prime, in nats


@dataclass
class Model:
    """A trained model, as its checkpoint holds it."""

    path: str  # the checkpoint file
    checkpoint: object  # checkpoint.Checkpoint: weights, vocabulary, configuration, histories

    def precision(self, precision="auto"):
        """The precision (precision.PRECISIONS) that ``precision`` means for this
        model: ``auto`` is int8 for large models, float32 for small ones."""
        from .precision import resolve

        return resolve(precision, self.checkpoint.params.size)

    def sample(self, length=2000, **options):
        """``length`` characters generated after the prime (which they do not
        include); the options are ``stream``'s."""
        return "".join(self.stream(length, **options))

    def stream(self, length=2000, *, precision="auto", threads=None, **options):
        """Yield the generated text in pieces as it is generated.  The options
        and their defaults are sample.sample_text's: ``temperature`` [1.0];
        ``top_k``: sample among the k most likely characters [0: all];
        ``greedy``: always the most likely; ``prime``: text to start from;
        ``seed``: the same seed, the same text [None: a random one]; ``stop``:
        end just after this string first appears.  ``threads``: CPU threads
        [None: one a free CPU, at most 2]; the text is the same for any number."""
        from .sample import sample_text

        return sample_text(
            self.checkpoint,
            length,
            precision=self.precision(precision),
            threads=threads,
            **options,
        )

    def beam(
        self, length=2000, *, width, prime="", seed=None, stop=None, precision="auto", threads=None
    ):
        """The Beam: the most probable text that beam search of ``width`` finds."""
        from .sample import beam_text

        self._run_on(threads, width)
        text, log_probability = beam_text(
            self.checkpoint,
            length,
            width,
            prime=prime,
            seed=seed,
            stop=stop,
            precision=self.precision(precision),
        )
        return Beam(text, log_probability)

    def loss(self, text, *, precision="auto", threads=None):
        """The evaluate.Loss of the model on ``text``, read as one stream."""
        from .evaluate import text_loss

        ckpt = self.checkpoint
        ids = ckpt.vocab.encode(text, what="the text")
        return text_loss(ckpt, ids, self.precision(precision), threads=threads)[0]

    def _run_on(self, threads, streams):
        """Kernels on ``threads`` threads, or as many as suit ``streams`` streams
        of this model on the CPUs free now (kernels.threads.run_on)."""
        from .kernels.threads import run_on, step_work

        ckpt = self.checkpoint
        run_on(threads, step_work(ckpt.params.size, ckpt.model.layers, streams))

    def states(self, text, *, threads=None):
        """(len(text), layers, hidden): every unit's value after each character of
        ``text``, read from a zero state; what ``charrnn viz`` shows (viz.py)."""
        from .viz import run

        self._run_on(threads, 1)
        ckpt = self.checkpoint
        return run(ckpt, ckpt.vocab.encode(text, what="the text"), keep=len(text))[0]


@dataclass
class Run:
    """A training run as it ended: the ``end`` object of ``train --json`` and the
    histories of its last checkpoint."""

    directory: str
    steps: int
    stopped: str  # what ended it: steps, epochs, chars or time
    best_val_loss: float  # nats per character
    best_checkpoint: str
    last_checkpoint: str
    train_seconds: float
    train_history: object = field(repr=False)  # (steps, 2) numpy array: step, training loss
    val_history: object = field(repr=False)  # (validation runs, 2): step, validation loss

    def load(self):
        """The Model of the best checkpoint."""
        return load(self.best_checkpoint)


def train(
    corpus, *, out=None, force=False, resume=None, quiet=False, log=None, on_event=None, **options
):
    """Train a model on the text file ``corpus`` until its budget ends; the Run.

    options   ``charrnn train``'s, by TrainConfig field (hidden=128,
              max_time=600, eval_seconds=30); not given: the defaults, or on
              resume the run's own
    out       the run directory [checkpoints/<corpus name>, or -2, -3, ...
              when that holds another run]
    force     replace the run in ``out``
    resume    a checkpoint to continue (a run directory: its last.npz), or
              True: last.npz in ``out``, or of the newest run of ``corpus``
    quiet     no progress bar and no messages
    log       called with each message [printed to stderr]
    on_event  called with each object of ``train --json``: after every
              validation run, and at the end however the run ends

    Ctrl-C (or SIGTERM) saves last.npz and raises errors.Interrupted.
    """
    from . import compile_notice
    from .errors import CharrnnError

    ended = []

    def event(e):
        if e["event"] == "end":
            ended.append(e)
        if on_event:
            on_event(e)

    log = log or message_printer(quiet)
    # The run's log hears of a compile (not with --quiet), from the first
    # import of the kernels on (kernels/__init__.py compiles one).
    with compile_notice.told_to(log, "train"):
        from .train import error_end

        try:
            last = start_run(corpus, out, force, resume, quiet, log, event, options)
        except CharrnnError as e:
            if not ended:  # refused before it started: scripts still get an end
                event(error_end(out, e))
            raise
    end = ended[-1]
    return Run(
        end["run_dir"],
        end["steps"],
        end["stopped"],
        end["best_val_loss"],
        end["best_checkpoint"],
        end["last_checkpoint"],
        end["train_seconds"],
        last.train_history,
        last.val_history,
    )


def start_run(corpus, out, force, resume, quiet, log, on_event, options):
    """``train`` in the run directory it claims; the last checkpoint."""
    from . import checkpoint, runs
    from .config import config_of
    from .train import train as run

    stem = os.path.splitext(os.path.basename(corpus))[0]
    if resume is True:
        resume = runs.checkpoint_to_resume(out, stem)
    elif resume:
        resume = runs.checkpoint_in(resume, "last.npz")  # a run directory: its last.npz
    saved = checkpoint.load(resume, weights=False).train_config if resume else None
    cfg = config_of(options, saved)
    cfg.check()
    directory = out or (os.path.dirname(resume) or "." if resume else os.path.join(runs.ROOT, stem))
    run_dir = runs.claim(directory, explicit=out is not None, force=force, resume=resume, log=log)
    if resume:
        log(f"resuming {resume}")
    return run(
        corpus,
        cfg,
        run_dir.path,
        quiet=quiet,
        log=log,
        resume=resume,
        run_dir=run_dir,
        on_event=on_event,
    )


def message_printer(quiet):
    """The default ``log``: each message on a line of stderr, none when ``quiet``."""

    def log(message):
        if not quiet:
            print(message, file=sys.stderr)

    return log


def list_runs(directory="checkpoints", sort="best"):
    """A dict per run under ``directory`` (runs.RUN_FIELDS), sorted by the
    column ``sort`` (runs.SORT_KEYS): what ``charrnn runs --json`` prints."""
    from . import runs

    return runs.list_runs(directory, sort=sort)


def info(path):
    """Everything in the checkpoint at ``path`` but its weights, as a dict: what
    ``charrnn info --json`` prints."""
    from .info import report

    return report(path)


def run_sweep(corpus=None, **options):
    """``charrnn sweep``: search train options on ``corpus``; returns the
    sweep.start.SweepResult (its directory, its trials best first, ``best``
    and ``table()``).  Its options are sweep.start.sweep's.  (Not
    ``charrnn.sweep``: that is the package of the sweeps.)"""
    from .sweep.start import sweep

    return sweep(corpus, **options)
