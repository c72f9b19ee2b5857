"""The training loop: batches -> forward/backward -> clip -> optimizer -> checkpoints.

The hidden state is carried from each batch to the next (truncated backprop
through time) and reset to zero at the start of every epoch and, at random, in
a few streams at each step; those resets live here and nowhere else.
Everything the loop changes (weights, optimizer state, learning rate,
position, hidden state, random generator) is saved in every checkpoint, so
``resume`` continues bit for bit.
"""
import json
import math
import os
import shutil
import signal
import time
from dataclasses import asdict

import numpy as np
from tqdm import tqdm

from . import checkpoint, files, optim, runs
from . import schedule as schedules
from .data.batches import StreamBatcher, split
from .data.corpus import load_corpus
from .config import TrainConfig, option_name  # noqa: F401  (charrnn.train.TrainConfig, as before)
from .defaults import default_lr
from .errors import CharrnnError, Interrupted
from .evaluate import stream_loss
from .kernels.buffers import Workspace
from .kernels.threads import use_threads
from .model import ModelConfig, dropout_masks, init_params, loss_and_grad, param_count, zero_state

MAX_PARAMS = 500_000_000  # a guard against typos such as --hidden 1000000
EXPLODED_LOSS = 1e4       # nats per character: far above log(V) of any vocabulary
# Options that define the model or the data stream: a resumed run must keep them.
FIXED_ON_RESUME = ("cell", "hidden", "layers", "dropout", "seq_length", "batch_size", "val_frac",
                   "optimizer", "encoding")
# Options that came after runs were first saved: what a run saved without them trained with.
BEFORE_THE_OPTION = {"reset_rate": 0.0}


def prepare_out_dir(out_dir):
    """Prove ``out_dir`` writable, clear what a killed run left there."""
    try:
        files.write_atomically(os.path.join(out_dir, ".write-test"), lambda f: None)
        os.unlink(os.path.join(out_dir, ".write-test"))
    except OSError as e:
        raise CharrnnError(f"{out_dir}: cannot write checkpoints there ({e.strerror})") from None
    files.remove_stale_temporaries(out_dir)


def check_resumable(ckpt, cfg, corpus, resume_path, log):
    """Refuse a resume that would change the model or the data; report other changes."""
    saved = ckpt.train_config
    fixed = [f"{option_name(k)} {getattr(cfg, k)} (the run used {saved[k]})"
             for k in FIXED_ON_RESUME if saved.get(k) != getattr(cfg, k)]
    if fixed:
        raise CharrnnError(f"cannot resume {resume_path} with a different "
                           f"{'; '.join(fixed)}")
    if saved.get("corpus_sha256") != corpus.sha256:
        raise CharrnnError(f"cannot resume {resume_path}: the corpus differs from the one the run "
                           f"was trained on ({saved.get('corpus')}, "
                           f"{saved.get('corpus_chars', 0):,} characters)")
    changed = [f"{option_name(k)} {saved.get(k)} -> {v}" for k, v in asdict(cfg).items()
               if k not in FIXED_ON_RESUME and k != "seed" and saved.get(k) != v]
    if changed:
        log(f"resuming with changed options: {', '.join(changed)}")


def train(corpus_path, cfg, out_dir, quiet=False, log=print, resume=None, run_dir=None,
          on_event=None):
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
            return _train(corpus_path, cfg, run_dir, quiet, log, resume, event)
        except CharrnnError as e:
            if not any(ended):  # a refusal or a failed write: scripts still get an end
                event(error_end(run_dir.path, e))
            raise


END_FIELDS = ("event", "run_dir", "steps", "epochs", "best_val_loss", "best_checkpoint",
              "last_checkpoint", "elapsed_seconds", "train_seconds", "stopped", "error")


def error_end(run_dir, error):
    """The end event of a run stopped by an error: what is not known is None."""
    return {**dict.fromkeys(END_FIELDS), "event": "end", "run_dir": run_dir,
            "stopped": "error", "error": str(error)}


def _train(corpus_path, cfg, run_dir, quiet, log, resume, on_event):
    out_dir = run_dir.path
    prepare_out_dir(out_dir)
    corpus = load_corpus(corpus_path, cfg.encoding, directory=out_dir)
    vocab, ids = corpus.vocab, corpus.ids
    model_cfg = ModelConfig(len(vocab), cfg.hidden, cfg.layers, cfg.dropout, cfg.cell)
    n_params = param_count(model_cfg)
    if n_params > MAX_PARAMS:
        raise CharrnnError(f"a {cfg.layers}x{cfg.hidden} model over {len(vocab)} characters has "
                           f"{n_params:,} parameters, more than {MAX_PARAMS:,}; "
                           "lower --hidden or --layers")
    train_ids, val_ids = split(ids, cfg.val_frac)
    batches = StreamBatcher(train_ids, cfg.batch_size, cfg.seq_length)
    # the run's step budgets, over all resumes (every step reads B*T characters)
    limits = {"steps": cfg.max_steps, "epochs": cfg.epochs * len(batches),
              "chars": None if cfg.max_chars is None else
              -(-cfg.max_chars // (cfg.batch_size * cfg.seq_length))}
    limit = min((name for name in limits if limits[name] is not None), key=limits.get)
    total_steps = limits[limit]
    check_free_space(out_dir, cfg, n_params, total_steps)

    rng = np.random.default_rng(cfg.seed)
    if resume:
        ckpt = checkpoint.load(resume)
        check_resumable(ckpt, cfg, corpus, resume, log)
        rng.bit_generator.state = json.loads(ckpt.rng_state)
        schedule = schedules.resolve(cfg.schedule, cfg.lr_decay,
                                     resumed_without_schedule="schedule" not in ckpt.train_config)
        peak = json.loads(ckpt.schedule).get("peak_lr", ckpt.lr)
        if cfg.lr is not None and cfg.lr != ckpt.train_config.get("lr"):
            ckpt.lr = peak = cfg.lr
    else:
        schedule = schedules.resolve(cfg.schedule, cfg.lr_decay)
        params = init_params(model_cfg, rng)
        peak = cfg.lr if cfg.lr is not None else default_lr(cfg.optimizer, cfg.cell)
        ckpt = checkpoint.Checkpoint(
            model=model_cfg, vocab=vocab, params=params, optimizer=cfg.optimizer,
            optimizer_state=optim.init_state(cfg.optimizer, params.size), lr=peak)
    ckpt.train_config = {**asdict(cfg), "schedule": schedule,
                         "corpus": os.path.abspath(corpus_path), "corpus_sha256": corpus.sha256,
                         "corpus_file_sha256": corpus.file_sha256, "corpus_chars": len(ids),
                         "steps_per_epoch": len(batches)}
    if ckpt.step >= total_steps:
        raise CharrnnError(f"{resume} is at step {ckpt.step}, which already reaches --max-steps, "
                           f"--max-chars or --epochs ({total_steps} steps); raise them to train "
                           "further")
    if cfg.max_time is not None and ckpt.seconds >= cfg.max_time:
        raise CharrnnError(f"{resume} has trained for {ckpt.seconds:.0f} s, which already "
                           f"reaches --max-time {cfg.max_time:g} s (the run's total, over "
                           "resumes); raise it to train further")
    run_dir.prepare(log)  # every check passed: now the directory may change
    if run_dir.drops_best:
        ckpt.best_val = float("inf")  # the next validation writes best.npz of this branch
    params, opt_state = ckpt.params, ckpt.optimizer_state
    ckpt.packed.clear()  # generation weights packed from these params go stale
    grads = np.zeros_like(params)
    # Rows (step, loss, seconds, characters): the first two are the histories,
    # the others the arrays beside them.
    train_history = [tuple(row) + (s, n) for row, s, n in
                     zip(ckpt.train_history, ckpt.train_seconds, ckpt.train_chars)]
    val_history = [tuple(row) + (s, n) for row, s, n in
                   zip(ckpt.val_history, ckpt.val_seconds, ckpt.val_chars)]
    log(f"corpus {corpus_path}: {len(ids):,} characters, vocabulary {len(vocab)}, "
        f"{len(train_ids):,} train / {len(val_ids):,} validation; model "
        f"{cfg.layers}x{cfg.hidden} {cfg.cell.upper()}, {n_params:,} parameters; "
        f"{len(batches)} steps per epoch; checkpoints in {out_dir}"
        + (f"; resuming at step {ckpt.step}" if resume else ""))

    step, epoch, k, lr = ckpt.step, ckpt.epoch, ckpt.batch_index, ckpt.lr
    state = ckpt.state if k > 0 else zero_state(model_cfg, cfg.batch_size)
    seconds_before, chars = ckpt.seconds, ckpt.chars  # of the processes before this one
    last_path, best_path = os.path.join(out_dir, "last.npz"), os.path.join(out_dir, "best.npz")

    def clock():
        """Training wall-clock seconds, over all processes of the run."""
        return seconds_before + time.perf_counter() - started

    def epochs_done():
        return epoch + k / len(batches)

    def budget_done():
        return schedules.position(step, total_steps, clock(), cfg.max_time)

    def save(name):
        ckpt.step, ckpt.epoch, ckpt.batch_index, ckpt.lr = step, epoch, k, lr
        ckpt.schedule = json.dumps({"name": schedule, "peak_lr": peak, "done": budget_done()})
        ckpt.seconds, ckpt.chars = clock(), chars
        ckpt.state = state
        ckpt.rng_state = json.dumps(rng.bit_generator.state)
        for name_, rows in (("train", train_history), ("val", val_history)):
            table = np.array(rows, np.float64).reshape(-1, 4)
            setattr(ckpt, f"{name_}_history", table[:, :2])
            setattr(ckpt, f"{name_}_seconds", table[:, 2])
            setattr(ckpt, f"{name_}_chars", table[:, 3])
        path = os.path.join(out_dir, name)
        try:
            checkpoint.save(path, ckpt)
        except OSError as e:
            raise CharrnnError(f"cannot write {path} ({e.strerror}); the checkpoints written "
                               "before are intact") from None
        return path

    def validate_and_save():
        # In training's own buffers, in chunks of its size: validation adds
        # nothing to the memory of the run.
        loss, count = stream_loss(params, model_cfg, val_ids, cfg.batch_size, cfg.seq_length,
                                  blocks, workspace)
        val = loss / count
        val_history.append((step, val, clock(), chars))
        improved = val < ckpt.best_val
        ckpt.best_val = min(val, ckpt.best_val)
        written = save("last.npz")  # first: never behind best.npz, whenever a kill lands
        if improved:
            save("best.npz")
        if cfg.keep != 0:
            written = save(f"step{step:07d}_val{val:.4f}.npz")
        runs.prune_step_files(out_dir, cfg.keep)
        since = [row[1] for row in train_history if row[0] > last_validated[0]]
        last_validated[0] = step
        on_event({"event": "validation", "step": step, "epoch": round(epochs_done(), 4),
                  "train_loss": float(np.mean(since)) if since else None, "val_loss": val,
                  "best_val_loss": ckpt.best_val, "lr": lr,
                  "chars_per_second": (chars - chars_started) / max(clock() - seconds_before,
                                                                   1e-9),
                  "elapsed_seconds": clock() - seconds_before, "train_seconds": clock(),
                  "chars": chars, "checkpoint": written})
        return val

    def finish(stopped, error=None):
        best = ckpt.best_val if math.isfinite(ckpt.best_val) else None
        on_event({"event": "end", "run_dir": out_dir, "steps": step,
                  "epochs": round(epochs_done(), 4), "best_val_loss": best,
                  "best_checkpoint": best_path if os.path.exists(best_path) else None,
                  "last_checkpoint": last_path if os.path.exists(last_path) else None,
                  "elapsed_seconds": time.perf_counter() - process_started,
                  "train_seconds": clock(), "stopped": stopped, "error": error})

    blocks = use_threads(cfg.threads)
    workspace = Workspace()
    compile_started = time.perf_counter()
    compile_kernels(params, grads, model_cfg, cfg, batches[k], state, val_ids, blocks, workspace)
    compile_seconds = time.perf_counter() - compile_started
    if compile_seconds > 5:
        log(f"compiled the kernels in {compile_seconds:.0f} s (once for this installation and "
            "model type; kept in the cache)")
    # From here a signal lets the current step finish, then saves: the state is
    # never half-updated.  (Before, Ctrl-C stops at once: nothing to save yet.)
    received = []
    handlers = {sig: signal.signal(sig, lambda signum, _: received.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = Progress(cfg, step, total_steps, seconds_before, quiet)
    smooth = train_history[-1][1] if train_history else None
    last_validated = [val_history[-1][0] if val_history else 0]
    process_started = started = time.perf_counter()
    chars_started = chars
    next_validation = [cfg.eval_seconds or math.inf]
    stopped = None
    try:
        while not received:
            if step >= total_steps:
                stopped = limit
                break
            if k == 0:
                state = zero_state(model_cfg, cfg.batch_size)  # each epoch starts from zero
            else:
                reset_streams(state, cfg.reset_rate, rng)
            if schedule != "decay":
                lr = schedules.rate(schedule, peak, budget_done())
            inputs, targets = batches[k]
            masks = dropout_masks(model_cfg, rng, *inputs.shape, shared=cfg.variational)
            loss, state_next = loss_and_grad(params, model_cfg, inputs, targets, state, masks,
                                             grads, blocks, workspace)
            norm, scale = optim.clip_scale(grads, cfg.grad_clip)
            if not (math.isfinite(loss) and math.isfinite(norm)) or loss > EXPLODED_LOSS:
                message = (f"training diverged at step {step + 1} (loss {loss:.4g}, gradient "
                           f"norm {norm:.4g}); the checkpoints in {out_dir} from before are "
                           "intact; try a lower --lr or --grad-clip")
                finish("divergence", message)
                raise CharrnnError(message)
            optim.update(cfg.optimizer, params, grads, opt_state, lr, step + 1, scale,
                         cfg.weight_decay)
            step, k, state = step + 1, k + 1, state_next
            if k == len(batches):
                epoch, k = epoch + 1, 0
                if schedule == "decay":
                    lr *= cfg.lr_decay
            chars += inputs.size
            train_history.append((step, loss, clock(), chars))
            smooth = loss if smooth is None else 0.98 * smooth + 0.02 * loss
            elapsed = time.perf_counter() - started
            if cfg.eval_seconds is None and step % cfg.eval_every == 0 or \
                    cfg.eval_seconds is not None and elapsed >= next_validation[0]:
                validate_and_save()
                elapsed = time.perf_counter() - started
                # on a grid of this process's time: validations of runs compared
                # at the same points of their budget (charrnn sweep) line up
                while next_validation[0] <= elapsed:
                    next_validation[0] += cfg.eval_seconds or math.inf
            val_text = f"{val_history[-1][1]:.3f}" if val_history else "-"  # before any validation
            progress.update(step, budget_done(), clock(), elapsed,
                            f"epoch {epoch + 1} loss {smooth:.3f} val {val_text} "
                            f"{(chars - chars_started) / elapsed:,.0f} char/s")
            if cfg.max_time is not None and clock() >= cfg.max_time:
                stopped = "time"
                break
        if received:
            save("last.npz")
            finish("signal", f"stopped by {signal.Signals(received[0]).name}")
            raise Interrupted(received[0], f"stopped at step {step}; saved "
                              f"{last_path} (continue with --resume)")
        if not val_history or val_history[-1][0] != step:
            validate_and_save()
    finally:
        progress.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    finish(stopped)
    log(f"trained to step {step} (epoch {epoch + 1}) in {time.perf_counter() - started:.0f} s; "
        f"validation loss {val_history[-1][1]:.4f} nats/char (best {ckpt.best_val:.4f}); "
        f"{best_path}")
    return ckpt


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


def compile_kernels(params, grads, model_cfg, cfg, batch, state, val_ids, blocks, workspace):
    """Run every kernel of a training step and of validation once, on throwaway
    outputs, before the clock starts: the first run after an installation
    compiles them (a minute or more), which is not training time and must not
    eat a --max-time budget.  Nothing the run carries is touched (weights,
    optimizer state, carried state, random generator; ``grads`` is scratch),
    so --seed and resume stay exact; with the compiled code cached, this costs
    about one step."""
    inputs, targets = batch
    masks = dropout_masks(model_cfg, np.random.default_rng(0), *inputs.shape)
    loss_and_grad(params, model_cfg, inputs, targets, state.copy(), masks, grads, blocks,
                  workspace)
    small = np.zeros(8, params.dtype)  # the optimizer's kernels compile for types, not sizes
    _, scale = optim.clip_scale(small, cfg.grad_clip)
    optim.update(cfg.optimizer, small.copy(), small, optim.init_state(cfg.optimizer, 8), 0.0, 1,
                 scale)
    stream_loss(params, model_cfg, val_ids[:2 * cfg.batch_size + 2], cfg.batch_size,
                cfg.seq_length, blocks, workspace)


def check_free_space(out_dir, cfg, n_params, total_steps):
    """Refuse a run whose kept checkpoints would not fit: best, last, the kept
    step files and one temporary file being written."""
    # a checkpoint holds params and optimizer state (up to 3 arrays of 4 bytes a parameter)
    checkpoint_bytes = 4 * n_params * (1 + len(optim.STATE_NAMES[cfg.optimizer]))
    checkpoint_bytes += 32 * total_steps  # the training history: 4 float64 a step
    validations = total_steps // (cfg.eval_every if cfg.eval_seconds is None else 1) + 1
    kept = 3 + (validations if cfg.keep is None else min(cfg.keep, validations))
    existing = sum(os.path.getsize(os.path.join(out_dir, name))
                   for name in runs.checkpoint_files(out_dir))  # replaced as the run goes
    free = shutil.disk_usage(out_dir).free + existing
    if free < kept * checkpoint_bytes:
        raise CharrnnError(f"{out_dir}: {free / 1e6:,.0f} MB free, but the {kept} checkpoints "
                           f"this run keeps (--keep {'all' if cfg.keep is None else cfg.keep}) "
                           f"need {kept * checkpoint_bytes / 1e6:,.0f} MB")


class Progress:
    """The progress bar (stderr) of what the run will do: with --max-time its
    total and time left follow the time budget, over resumes (never beyond it,
    and sooner when the steps will run out first); otherwise the steps of
    --max-steps, --max-chars or all --epochs."""

    def __init__(self, cfg, step, total_steps, seconds, quiet):
        self.budget = cfg.max_time
        self.first_step, self.total_steps = step, total_steps
        if self.budget is None:
            self.bar = tqdm(total=total_steps, initial=step, disable=quiet, unit="step",
                            dynamic_ncols=True)
        else:
            self.bar = tqdm(total=self.budget, initial=seconds, disable=quiet, unit="s",
                            dynamic_ncols=True, bar_format="{percentage:3.0f}%|{bar}| {desc}")

    def update(self, step, done, seconds, elapsed, text):
        """``done``: of the budget; ``seconds``: the run's training time;
        ``elapsed``: this process's."""
        if self.budget is None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(text, refresh=False)
            return
        steps_left = (self.total_steps - step) * elapsed / max(step - self.first_step, 1)
        left = min(self.budget - seconds, steps_left)
        self.bar.set_description_str(f"{tqdm.format_interval(seconds)} of "
                                     f"{tqdm.format_interval(self.budget)}, "
                                     f"{tqdm.format_interval(max(left, 0))} left, {text}",
                                     refresh=False)
        self.bar.update(done * self.budget - self.bar.n)

    def close(self):
        self.bar.close()
