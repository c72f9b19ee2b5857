"""The training loop: batches -> forward/backward -> clip -> optimizer -> checkpoints.

The hidden state is carried from each batch to the next (truncated backprop
through time) and reset to zero at the start of every epoch; that reset, and
nothing else, lives in ``train``.
"""
import math
import os
import signal
import time
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from . import checkpoint, optim
from .batches import StreamBatcher
from .blas import set_threads
from .corpus import load_corpus
from .errors import CharrnnError
from .evaluate import stream_loss
from .model import ModelConfig, backward, forward, init_params, param_count, zero_state

MAX_PARAMS = 500_000_000  # a guard against typos such as --hidden 1000000
EXPLODED_LOSS = 1e4       # nats per character: far above log(V) of any vocabulary


@dataclass
class TrainConfig:
    hidden: int = 512          # LSTM units per layer
    layers: int = 2
    dropout: float = 0.0
    seq_length: int = 100      # T: characters per chunk (truncated BPTT length)
    batch_size: int = 32       # B: streams trained side by side
    lr: float = None           # None: the optimizer's default (optim.DEFAULT_LR)
    optimizer: str = "adam"
    grad_clip: float = 5.0     # global norm; 0 turns clipping off
    lr_decay: float = 1.0      # learning rate factor applied after every epoch
    epochs: int = 50
    max_steps: int = None
    max_time: float = None     # seconds
    val_frac: float = 0.05     # the last fraction of the text is validation
    eval_every: int = 500      # steps between validation runs and checkpoints
    seed: int = 0
    threads: int = 1
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


def train(corpus_path, cfg, out_dir, quiet=False, log=print):
    """Train on ``corpus_path``; checkpoints go to ``out_dir``.  Returns the final Checkpoint."""
    cfg.check()
    set_threads(cfg.threads)
    os.makedirs(out_dir, exist_ok=True)
    if not os.access(out_dir, os.W_OK):
        raise CharrnnError(f"{out_dir}: cannot write checkpoints there")
    vocab, ids = load_corpus(corpus_path, cfg.encoding, directory=out_dir)
    model_cfg = ModelConfig(len(vocab), cfg.hidden, cfg.layers, cfg.dropout)
    if param_count(model_cfg) > MAX_PARAMS:
        raise CharrnnError(f"a {cfg.layers}x{cfg.hidden} model over {len(vocab)} characters has "
                           f"{param_count(model_cfg):,} parameters, more than {MAX_PARAMS:,}; "
                           "lower --hidden or --layers")
    n_val = max(2, int(round(len(ids) * cfg.val_frac)))
    if len(ids) - n_val < 2:
        raise CharrnnError(f"{corpus_path}: {len(ids)} characters are too few to split into "
                           "training and validation text")
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]
    batches = StreamBatcher(train_ids, cfg.batch_size, cfg.seq_length)

    rng = np.random.default_rng(cfg.seed)
    params = init_params(model_cfg, rng)
    grads = np.zeros_like(params)
    opt_state = optim.init_state(cfg.optimizer, params.size)
    lr = cfg.lr if cfg.lr is not None else optim.DEFAULT_LR[cfg.optimizer]
    ckpt = checkpoint.Checkpoint(model=model_cfg, vocab=vocab, params=params,
                                 optimizer=cfg.optimizer, optimizer_state=opt_state,
                                 train_config={**asdict(cfg), "corpus": os.path.abspath(corpus_path)})
    train_history, val_history = [], []
    best_val = math.inf
    total_steps = cfg.epochs * len(batches)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    log(f"corpus {corpus_path}: {len(ids):,} characters, vocabulary {len(vocab)}, "
        f"{len(train_ids):,} train / {len(val_ids):,} validation; model "
        f"{cfg.layers}x{cfg.hidden} LSTM, {param_count(model_cfg):,} parameters; "
        f"{len(batches)} steps per epoch; checkpoints in {out_dir}")

    def validate_and_save(step, epoch):
        nonlocal best_val
        loss, count = stream_loss(params, model_cfg, val_ids, streams=cfg.batch_size)
        val = loss / count
        val_history.append((step, val))
        ckpt.step, ckpt.epoch = step, epoch
        ckpt.train_history = np.array(train_history).reshape(-1, 2)
        ckpt.val_history = np.array(val_history).reshape(-1, 2)
        checkpoint.save(os.path.join(out_dir, f"step{step:07d}_val{val:.4f}.npz"), ckpt)
        if val < best_val:
            best_val = val
            checkpoint.save(os.path.join(out_dir, "best.npz"), ckpt)
        checkpoint.save(os.path.join(out_dir, "last.npz"), ckpt)
        return val

    # Ctrl-C finishes the current step, then saves: the state is never half-updated.
    interrupted = []
    previous_handler = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    bar = tqdm(total=total_steps, disable=quiet, unit="step", dynamic_ncols=True)
    step, epoch, smooth, val = 0, 0, None, float("nan")
    started = time.perf_counter()
    chars_per_step = cfg.batch_size * cfg.seq_length
    stop_reason = "finished"
    try:
        while step < total_steps and stop_reason == "finished":
            epoch += 1
            h, c = zero_state(model_cfg, cfg.batch_size)
            for k in range(len(batches)):
                inputs, targets = batches[k]
                loss, h, c, cache = forward(params, model_cfg, inputs, targets, h, c, rng, True)
                backward(params, model_cfg, cache, grads)
                loss /= inputs.size
                norm, scale = optim.clip_scale(grads, cfg.grad_clip)
                if not (math.isfinite(loss) and math.isfinite(norm)) or loss > EXPLODED_LOSS:
                    raise CharrnnError(
                        f"training diverged at step {step + 1} (loss {loss:.4g}, gradient "
                        f"norm {norm:.4g}); the last good checkpoint is in {out_dir}; "
                        "try a lower --lr or --grad-clip")
                step += 1
                optim.update(cfg.optimizer, params, grads, opt_state, lr, step, scale)
                train_history.append((step, loss))
                smooth = loss if smooth is None else 0.98 * smooth + 0.02 * loss
                if step % cfg.eval_every == 0:
                    val = validate_and_save(step, epoch)
                elapsed = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix_str(f"epoch {epoch} loss {smooth:.3f} val {val:.3f} "
                                    f"{step * chars_per_step / elapsed:,.0f} char/s", refresh=False)
                if interrupted:
                    stop_reason = "interrupted"
                elif step >= total_steps:
                    stop_reason = "done"
                elif cfg.max_time is not None and elapsed >= cfg.max_time:
                    stop_reason = "time"
                if stop_reason != "finished":
                    break
            lr *= cfg.lr_decay
        if stop_reason == "interrupted":
            ckpt.step, ckpt.epoch = step, epoch
            ckpt.train_history = np.array(train_history).reshape(-1, 2)
            ckpt.val_history = np.array(val_history).reshape(-1, 2)
            checkpoint.save(os.path.join(out_dir, "last.npz"), ckpt)
            raise KeyboardInterrupt
        if not val_history or val_history[-1][0] != step:
            val = validate_and_save(step, epoch)
    finally:
        bar.close()
        signal.signal(signal.SIGINT, previous_handler)
    log(f"trained {step} steps ({epoch} epochs) in {time.perf_counter() - started:.0f} s; "
        f"validation loss {val:.4f} nats/char (best {best_val:.4f}); {out_dir}/best.npz")
    return ckpt
