"""The training loop: batches -> forward/backward -> clip -> optimizer -> checkpoints.

The hidden state is carried from each batch to the next (truncated backprop
through time) and reset to zero at the start of every epoch; that reset lives
here and nowhere else.  Everything the loop changes (weights, optimizer
state, learning rate, position, hidden state, random generator) is saved in
every checkpoint, so ``resume`` continues bit for bit.
"""
import json
import math
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from . import cells, checkpoint, optim
from .data.batches import StreamBatcher, split
from .data.corpus import load_corpus
from .errors import CharrnnError, Interrupted
from .evaluate import stream_loss
from .kernels.buffers import Workspace
from .kernels.threads import default_threads, use_threads
from .model import ModelConfig, dropout_masks, init_params, loss_and_grad, param_count, zero_state

MAX_PARAMS = 500_000_000  # a guard against typos such as --hidden 1000000
EXPLODED_LOSS = 1e4       # nats per character: far above log(V) of any vocabulary
# Options that define the model or the data stream: a resumed run must keep them.
FIXED_ON_RESUME = ("cell", "hidden", "layers", "dropout", "seq_length", "batch_size", "val_frac",
                   "optimizer", "encoding")


@dataclass
class TrainConfig:
    cell: str = "lstm"         # the recurrent cell, a name in cells.CELLS
    hidden: int = 512          # units per layer
    layers: int = 2
    dropout: float = 0.0
    seq_length: int = 50       # T: characters per chunk (truncated BPTT length)
    batch_size: int = 50       # B: streams trained side by side
    lr: float = None           # None: the optimizer's default (optim.DEFAULT_LR)
    optimizer: str = "adam"
    grad_clip: float = 5.0     # global norm; 0 turns clipping off
    lr_decay: float = 1.0      # learning rate factor applied after every epoch
    epochs: int = 50
    max_steps: int = None
    max_time: float = None     # seconds
    val_frac: float = 0.05     # the last fraction of the text is validation
    eval_every: int = 250      # steps between validation runs and checkpoints
    seed: int = 0
    threads: int = field(default_factory=default_threads)  # work blocks, one per thread
    encoding: str = "utf-8"

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
        if not self.grad_clip >= 0:
            raise CharrnnError(f"--grad-clip must be >= 0, not {self.grad_clip}")
        if not 0.0 < self.lr_decay <= 1.0:
            raise CharrnnError(f"--lr-decay must be in (0, 1], not {self.lr_decay}")
        if self.max_steps is not None and self.max_steps < 1:
            raise CharrnnError(f"--max-steps must be at least 1, not {self.max_steps}")
        if self.optimizer not in optim.OPTIMIZERS:
            raise CharrnnError(f"--optimizer must be one of {', '.join(optim.OPTIMIZERS)}")
        if self.cell not in cells.CELLS:
            raise CharrnnError(f"--cell must be one of {', '.join(cells.CELLS)}")


def prepare_out_dir(out_dir):
    """Create ``out_dir``, prove it writable, clear what a killed run left there."""
    try:
        os.makedirs(out_dir, exist_ok=True)
        checkpoint.write_atomically(os.path.join(out_dir, ".write-test"), lambda f: None)
        os.unlink(os.path.join(out_dir, ".write-test"))
    except OSError as e:
        raise CharrnnError(f"{out_dir}: cannot write checkpoints there ({e.strerror})") from None
    checkpoint.remove_stale_temporaries(out_dir)


def option_name(key):
    return "--" + key.replace("_", "-")


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


def train(corpus_path, cfg, out_dir, quiet=False, log=print, resume=None):
    """Train on ``corpus_path``, or continue the checkpoint ``resume``;
    checkpoints go to ``out_dir``.  Returns the final Checkpoint."""
    cfg.check()
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
    # a checkpoint holds params and optimizer state (up to 3 arrays of 4 bytes a parameter)
    checkpoint_bytes = 4 * n_params * (1 + len(optim.STATE_NAMES[cfg.optimizer]))
    free = shutil.disk_usage(out_dir).free
    if free < 3 * checkpoint_bytes:
        raise CharrnnError(f"{out_dir}: {free / 1e6:,.0f} MB free, but checkpoints of this model "
                           f"need {3 * checkpoint_bytes / 1e6:,.0f} MB")

    rng = np.random.default_rng(cfg.seed)
    train_config = {**asdict(cfg), "corpus": os.path.abspath(corpus_path),
                    "corpus_sha256": corpus.sha256, "corpus_chars": len(ids)}
    if resume:
        ckpt = checkpoint.load(resume)
        check_resumable(ckpt, cfg, corpus, resume, log)
        rng.bit_generator.state = json.loads(ckpt.rng_state)
        if cfg.lr is not None and cfg.lr != ckpt.train_config.get("lr"):
            ckpt.lr = cfg.lr
        ckpt.train_config = train_config
    else:
        params = init_params(model_cfg, rng)
        ckpt = checkpoint.Checkpoint(
            model=model_cfg, vocab=vocab, params=params, optimizer=cfg.optimizer,
            optimizer_state=optim.init_state(cfg.optimizer, params.size),
            train_config=train_config,
            lr=cfg.lr if cfg.lr is not None else optim.DEFAULT_LR[cfg.optimizer])
    params, opt_state = ckpt.params, ckpt.optimizer_state
    grads = np.zeros_like(params)
    # Rows (step, loss, seconds, characters): the first two are the histories,
    # the others the arrays beside them.
    train_history = [tuple(row) + (s, n) for row, s, n in
                     zip(ckpt.train_history, ckpt.train_seconds, ckpt.train_chars)]
    val_history = [tuple(row) + (s, n) for row, s, n in
                   zip(ckpt.val_history, ckpt.val_seconds, ckpt.val_chars)]
    total_steps = cfg.epochs * len(batches)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    if ckpt.step >= total_steps:
        raise CharrnnError(f"{resume} is at step {ckpt.step}, which already reaches --max-steps "
                           f"or --epochs ({total_steps} steps); raise them to train further")
    log(f"corpus {corpus_path}: {len(ids):,} characters, vocabulary {len(vocab)}, "
        f"{len(train_ids):,} train / {len(val_ids):,} validation; model "
        f"{cfg.layers}x{cfg.hidden} {cfg.cell.upper()}, {n_params:,} parameters; "
        f"{len(batches)} steps per epoch; checkpoints in {out_dir}"
        + (f"; resuming at step {ckpt.step}" if resume else ""))

    step, epoch, k, lr = ckpt.step, ckpt.epoch, ckpt.batch_index, ckpt.lr
    state = ckpt.state if k > 0 else zero_state(model_cfg, cfg.batch_size)
    seconds_before, chars = ckpt.seconds, ckpt.chars  # of the processes before this one

    def clock():
        """Training wall-clock seconds, over all processes of the run."""
        return seconds_before + time.perf_counter() - started

    def save(name):
        ckpt.step, ckpt.epoch, ckpt.batch_index, ckpt.lr = step, epoch, k, lr
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

    def validate_and_save():
        loss, count = stream_loss(params, model_cfg, val_ids, cfg.batch_size, blocks=blocks)
        val = loss / count
        val_history.append((step, val, clock(), chars))
        improved = val < ckpt.best_val
        ckpt.best_val = min(val, ckpt.best_val)
        save("last.npz")  # first: last.npz is never behind best.npz, whenever a kill lands
        if improved:
            save("best.npz")
        save(f"step{step:07d}_val{val:.4f}.npz")
        return val

    # A signal lets the current step finish, then saves: the state is never half-updated.
    received = []
    handlers = {sig: signal.signal(sig, lambda signum, _: received.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    blocks = use_threads(cfg.threads)
    workspace = Workspace()
    bar = tqdm(total=total_steps, initial=step, disable=quiet, unit="step", dynamic_ncols=True)
    smooth = train_history[-1][1] if train_history else None
    started = time.perf_counter()
    chars_started = chars
    try:
        while step < total_steps and not received:
            if k == 0:
                state = zero_state(model_cfg, cfg.batch_size)  # each epoch starts from zero
            inputs, targets = batches[k]
            masks = dropout_masks(model_cfg, rng, *inputs.shape)
            loss, state_next = loss_and_grad(params, model_cfg, inputs, targets, state, masks,
                                             grads, blocks, workspace)
            norm, scale = optim.clip_scale(grads, cfg.grad_clip)
            if not (math.isfinite(loss) and math.isfinite(norm)) or loss > EXPLODED_LOSS:
                raise CharrnnError(
                    f"training diverged at step {step + 1} (loss {loss:.4g}, gradient norm "
                    f"{norm:.4g}); the checkpoints in {out_dir} from before are intact; "
                    "try a lower --lr or --grad-clip")
            optim.update(cfg.optimizer, params, grads, opt_state, lr, step + 1, scale)
            step, k, state = step + 1, k + 1, state_next
            if k == len(batches):
                epoch, k, lr = epoch + 1, 0, lr * cfg.lr_decay
            chars += inputs.size
            train_history.append((step, loss, clock(), chars))
            smooth = loss if smooth is None else 0.98 * smooth + 0.02 * loss
            if step % cfg.eval_every == 0:
                validate_and_save()
            elapsed = time.perf_counter() - started
            bar.update(1)
            val_text = f"{val_history[-1][1]:.3f}" if val_history else "-"  # before any validation
            bar.set_postfix_str(f"epoch {epoch + 1} loss {smooth:.3f} val {val_text} "
                                f"{(chars - chars_started) / elapsed:,.0f} char/s",
                                refresh=False)
            if cfg.max_time is not None and elapsed >= cfg.max_time:
                break
        if received:
            save("last.npz")
            raise Interrupted(received[0], f"stopped at step {step}; saved "
                              f"{os.path.join(out_dir, 'last.npz')} (continue with --resume)")
        if not val_history or val_history[-1][0] != step:
            validate_and_save()
    finally:
        bar.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    log(f"trained to step {step} (epoch {epoch + 1}) in {time.perf_counter() - started:.0f} s; "
        f"validation loss {val_history[-1][1]:.4f} nats/char (best {ckpt.best_val:.4f}); "
        f"{os.path.join(out_dir, 'best.npz')}")
    return ckpt
