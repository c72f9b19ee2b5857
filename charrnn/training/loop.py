"""The loop of a training run: step, validate when due, save, stop.

``Run`` is what the loop works with and never replaces (the weights and the
optimizer state change in place, in its checkpoint); ``RunState`` is what
each step moves on: position, learning rate, carried state, characters,
clock and histories.  The hidden state is carried from each batch to the
next (truncated backprop through time) and reset to zero at the start of
every epoch and, at random, in a few streams at each step; those resets live
here and nowhere else.
"""

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import checkpoint, optim, runs
from .. import schedule as schedules
from ..config import TrainConfig
from ..data.batches import StreamBatcher
from ..epochs import completed_epochs, epochs_text
from ..errors import CharrnnError, Interrupted
from ..evaluate import stream_loss
from ..interrupts import DeferredSignals
from ..kernels.buffers import Workspace
from ..kernels.threads import Threads
from ..model import ModelConfig, dropout_masks, loss_and_grad, zero_state
from .history import History
from .progress import Progress

EXPLODED_LOSS = 1e4  # nats per character: far above log(V) of any vocabulary


@dataclass
class Run:
    """What a training run works with, from its start to its end."""

    cfg: TrainConfig
    model: ModelConfig
    ckpt: checkpoint.Checkpoint  # its weights and optimizer state are updated in place
    grads: np.ndarray  # like ckpt.params: each step's gradient
    batches: StreamBatcher  # of the training text
    val_ids: np.ndarray  # the validation text
    rng: np.random.Generator  # dropout masks and state resets; saved in every checkpoint
    schedule: str  # schedules.SCHEDULES
    peak: float  # the schedule's peak learning rate
    limit: str  # the step budget that ends the run: steps, epochs or chars
    total_steps: int  # that budget, over all resumes
    out_dir: str
    blocks: int  # work blocks: with the seed, they fix the numbers (threads.py)
    threads: Threads  # how many threads run them, chosen again as the load changes
    workspace: Workspace  # training's buffers, validation's too
    on_event: Callable  # called with the objects of ``train --json``
    log: Callable  # called with human messages
    quiet: bool  # no progress bar


@dataclass
class Clock:
    """Training wall-clock seconds: ``before`` of the run's earlier processes,
    and this process's since ``start()``."""

    before: float
    started: float = None  # time.perf_counter()

    def start(self):
        self.started = time.perf_counter()

    def elapsed(self):
        """This process's training seconds."""
        return time.perf_counter() - self.started

    def seconds(self):
        """The run's, over all its processes."""
        return self.before + time.perf_counter() - self.started


@dataclass
class RunState:
    """What the loop moves on, step by step: all of it saved in every checkpoint."""

    step: int  # optimizer steps taken
    epoch: int  # whole epochs done
    batch: int  # batches done in the current epoch
    lr: float  # of the last step (of the next with schedule decay)
    carried: np.ndarray  # the hidden state (L, S, B, H) carried into the next batch
    chars: int  # training characters seen, over all resumes
    clock: Clock
    train: History  # a row per step
    val: History  # a row per validation
    chars_at_start: int  # chars when this process started: its speed
    smooth: float  # the progress bar's moving average of the loss
    last_validated: int  # the step of the last validation
    next_validation: float  # with --eval-every in seconds: when, in this process's seconds
    stopped: str = None  # what ended the run: a budget's name or "time"


def train_loop(run, state):
    """Step until a budget ends the run, validating and saving as due; a
    signal lets the current step finish, saves last.npz and raises
    Interrupted.  Returns the run's checkpoint."""
    # Before this, Ctrl-C stops at once: nothing to save yet.
    with DeferredSignals() as signals:
        progress = Progress(run.cfg, state.step, run.total_steps, state.clock.before, run.quiet)
        state.clock.start()
        try:
            while not signals.received:
                if state.step >= run.total_steps:
                    state.stopped = run.limit
                    break
                take_step(run, state)
                elapsed = state.clock.elapsed()
                if validation_due(run, state, elapsed):
                    validate_and_save(run, state)
                    elapsed = state.clock.elapsed()
                    plan_next_validation(run, state, elapsed)
                show_progress(progress, run, state, elapsed)
                if run.cfg.max_time is not None and state.clock.seconds() >= run.cfg.max_time:
                    state.stopped = "time"
                    break
            if signals.received:
                raise interrupted(run, state, signals.first)
            if not state.val or state.val.last()["step"] != state.step:
                validate_and_save(run, state)
        finally:
            progress.close()
    finish(run, state, state.stopped)
    run.log(
        f"trained to step {state.step} ({epochs_text(epochs_done(run, state))} epochs) in "
        f"{state.clock.elapsed():.0f} s; validation loss {state.val.last()['loss']:.4f} "
        f"nats/char (best {run.ckpt.best_val:.4f}); {path_of(run, 'best.npz')}"
    )
    return run.ckpt


def take_step(run, state):
    """One optimizer step on the next batch, from the carried state."""
    cfg, model, params, grads = run.cfg, run.model, run.ckpt.params, run.grads
    if state.batch == 0:
        state.carried = zero_state(model, cfg.batch_size)  # each epoch starts from zero
    else:
        reset_streams(state.carried, cfg.reset_rate, run.rng)
    if run.schedule != "decay":
        state.lr = schedules.rate(run.schedule, run.peak, budget_done(run, state))
    inputs, targets = run.batches[state.batch]
    run.threads.update()
    masks = dropout_masks(model, run.rng, *inputs.shape, shared=cfg.variational)
    loss, carried = loss_and_grad(
        params, model, inputs, targets, state.carried, masks, grads, run.blocks, run.workspace
    )
    norm, scale = optim.clip_scale(grads, cfg.grad_clip)
    if not (math.isfinite(loss) and math.isfinite(norm)) or loss > EXPLODED_LOSS:
        raise diverged(run, state, loss, norm)
    optim.update(
        cfg.optimizer,
        params,
        grads,
        run.ckpt.optimizer_state,
        state.lr,
        state.step + 1,
        scale,
        cfg.weight_decay,
    )
    state.step, state.batch, state.carried = state.step + 1, state.batch + 1, carried
    if state.batch == len(run.batches):
        state.epoch, state.batch = state.epoch + 1, 0
        if run.schedule == "decay":
            state.lr *= cfg.lr_decay
    state.chars += inputs.size
    state.train.append(state.step, loss, state.clock.seconds(), state.chars)
    state.smooth = loss if state.smooth is None else 0.98 * state.smooth + 0.02 * loss


def reset_streams(state, rate, rng):
    """Zero the state (L, S, B, H) of each stream with probability ``rate``.

    Sampling and evaluation start from zero anywhere in a text: a model that
    only ever met a zero state at an epoch's B starts can learn dynamics that
    run away from it elsewhere (a 30-minute LSTM did, from 0.8% of the places
    in the validation text).  Rate 0 draws nothing, so runs from before the
    option continue as they did.
    """
    if rate:
        state[:, :, rng.random(state.shape[2]) < rate] = 0.0


def validation_due(run, state, elapsed):
    """At every --eval-every steps, or seconds of this process (``elapsed``)."""
    if run.cfg.eval_seconds is None:
        return state.step % run.cfg.eval_every == 0
    return elapsed >= state.next_validation


def plan_next_validation(run, state, elapsed):
    # On a grid of this process's time: validations of runs compared at the
    # same points of their budget (charrnn sweep) line up.
    while state.next_validation <= elapsed:
        state.next_validation += run.cfg.eval_seconds or math.inf


def validate_and_save(run, state):
    """Validate, write last.npz, best.npz when it improved and the step file,
    and report (a ``validation`` event)."""
    cfg, ckpt = run.cfg, run.ckpt
    # In training's own buffers, in chunks of its size: validation adds
    # nothing to the memory of the run.  In float32 whatever the training
    # precision: the losses of runs in either precision compare.
    with run.workspace.products_in("float32") as ws:
        loss, count = stream_loss(
            ckpt.params,
            run.model,
            run.val_ids,
            cfg.batch_size,
            cfg.seq_length,
            run.blocks,
            ws,
            threads=run.threads,  # a long validation weighs the load too
        )
    val = loss / count
    state.val.append(state.step, val, state.clock.seconds(), state.chars)
    improved = val < ckpt.best_val
    ckpt.best_val = min(val, ckpt.best_val)
    written = save(run, state, "last.npz")  # first: never behind best.npz, whenever a kill lands
    if improved:
        save(run, state, "best.npz")
    if cfg.keep != 0:
        written = save(run, state, f"step{state.step:07d}_val{val:.4f}.npz")
    runs.prune_step_files(run.out_dir, cfg.keep)
    train_loss = state.train.mean_loss_after(state.last_validated)
    state.last_validated = state.step
    clock = state.clock
    run.on_event(
        {
            "event": "validation",
            "step": state.step,
            "epoch": epochs_done(run, state),
            "train_loss": train_loss,
            "val_loss": val,
            "best_val_loss": ckpt.best_val,
            "lr": state.lr,
            "chars_per_second": (state.chars - state.chars_at_start)
            / max(clock.seconds() - clock.before, 1e-9),
            "elapsed_seconds": clock.seconds() - clock.before,
            "train_seconds": clock.seconds(),
            "chars": state.chars,
            "checkpoint": written,
        }
    )


def save(run, state, name):
    """Write the run as it is now to ``name`` in its directory; returns the path."""
    ckpt = run.ckpt
    ckpt.step, ckpt.epoch, ckpt.batch_index, ckpt.lr = (
        state.step,
        state.epoch,
        state.batch,
        state.lr,
    )
    ckpt.schedule = json.dumps(
        {"name": run.schedule, "peak_lr": run.peak, "done": budget_done(run, state)}
    )
    ckpt.seconds, ckpt.chars = state.clock.seconds(), state.chars
    ckpt.state = state.carried
    ckpt.rng_state = json.dumps(run.rng.bit_generator.state)
    state.train.to_checkpoint(ckpt, "train")
    state.val.to_checkpoint(ckpt, "val")
    path = path_of(run, name)
    try:
        checkpoint.save(path, ckpt)
    except OSError as e:
        raise CharrnnError(
            f"cannot write {path} ({e.strerror}); the checkpoints written before are intact"
        ) from None
    return path


def show_progress(progress, run, state, elapsed):
    val_text = f"{state.val.last()['loss']:.3f}" if state.val else "-"  # before any validation
    progress.update(
        state.step,
        budget_done(run, state),
        state.clock.seconds(),
        elapsed,
        f"epochs {epochs_text(epochs_done(run, state))} loss {state.smooth:.3f} val {val_text} "
        f"{(state.chars - state.chars_at_start) / elapsed:,.0f} char/s",
    )


def diverged(run, state, loss, norm):
    """The error of a step that diverged, reported as the end of the run."""
    message = (
        f"training diverged at step {state.step + 1} (loss {loss:.4g}, gradient "
        f"norm {norm:.4g}); the checkpoints in {run.out_dir} from before are "
        "intact; try a lower --lr or --grad-clip"
    )
    finish(run, state, "divergence", message)
    return CharrnnError(message)


def interrupted(run, state, signum):
    """Save last.npz after a signal; the error that ends the run."""
    last = save(run, state, "last.npz")
    finish(run, state, "signal", f"stopped by {signum.name}")
    return Interrupted(
        signum, f"stopped at step {state.step}; saved {last} (continue with --resume)"
    )


def finish(run, state, stopped, error=None):
    """Report the end of the run (an ``end`` event), however it ends."""
    best = run.ckpt.best_val if math.isfinite(run.ckpt.best_val) else None
    best_path, last_path = path_of(run, "best.npz"), path_of(run, "last.npz")
    run.on_event(
        {
            "event": "end",
            "run_dir": run.out_dir,
            "steps": state.step,
            "epochs": epochs_done(run, state),
            "best_val_loss": best,
            "best_checkpoint": best_path if os.path.exists(best_path) else None,
            "last_checkpoint": last_path if os.path.exists(last_path) else None,
            "elapsed_seconds": state.clock.elapsed(),
            "train_seconds": state.clock.seconds(),
            "precision": run.cfg.precision,
            "stopped": stopped,
            "error": error,
        }
    )


def budget_done(run, state):
    """The fraction of the run's budget (steps or time) spent."""
    return schedules.position(state.step, run.total_steps, state.clock.seconds(), run.cfg.max_time)


def epochs_done(run, state):
    return completed_epochs(state.epoch, state.batch, len(run.batches))


def path_of(run, name):
    return os.path.join(run.out_dir, name)
