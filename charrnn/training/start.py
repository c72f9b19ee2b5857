"""What a training run starts from: its data, its budget, its first checkpoint
(new, or the one it resumes) and its compiled kernels.  Every check that can
refuse a run comes before the run directory is changed."""

import json
import math
import os
import shutil
import time
from dataclasses import asdict, replace

import numpy as np

from .. import cells, checkpoint, files, optim, runs
from .. import precision as precisions
from .. import schedule as schedules
from ..config import NOT_CARRIED, option_name
from ..data.batches import StreamBatcher, split
from ..data.corpus import load_corpus
from ..defaults import default_lr
from ..errors import CharrnnError
from ..evaluate import stream_loss
from ..kernels.buffers import Workspace
from ..kernels.threads import Threads, step_work
from ..memory import check_memory
from ..model import (
    ModelConfig,
    dropout_masks,
    init_params,
    loss_and_grad,
    param_count,
    state_size,
    zero_state,
)
from .history import History
from .loop import Clock, Run, RunState

MAX_PARAMS = 500_000_000  # a guard against typos such as --hidden 1000000
MAX_LAYERS = 1_000  # and --layers 10000; checkpoints beyond either are refused
HINT = "lower --layers, --hidden, --batch-size or --seq-length"
# A checkpoint's fields that grow as the run goes (JSON text, .npy headers): bytes
CHECKPOINT_MARGIN = 4096
# Options that define the model or the data stream: a resumed run must keep them.
FIXED_ON_RESUME = (
    "cell",
    "hidden",
    "layers",
    "dropout",
    "seq_length",
    "batch_size",
    "val_frac",
    "optimizer",
    "encoding",
)


def start(corpus_path, cfg, run_dir, resume, on_event, log, quiet):
    """The Run on ``corpus_path`` in ``run_dir`` (a runs.RunDir) and its state at
    the first step, or where the checkpoint ``resume`` stopped; the kernels compiled."""
    out_dir = run_dir.path
    prepare_out_dir(out_dir)
    corpus = load_corpus(corpus_path, cfg.encoding, directory=out_dir)
    model = ModelConfig(len(corpus.vocab), cfg.hidden, cfg.layers, cfg.dropout, cfg.cell)
    n_params = check_model_size(model)
    check_memory(training_bytes(model, cfg, n_params), "this run's weights and activations", HINT)
    train_ids, val_ids = split(corpus.ids, cfg.val_frac)
    batches = StreamBatcher(train_ids, cfg.batch_size, cfg.seq_length)
    limit, total_steps = step_budget(cfg, len(batches))
    cfg.precision, said = precisions.for_training(cfg.precision, resuming=bool(resume))
    if said:
        log(said)
    rng = np.random.default_rng(cfg.seed)
    ckpt, schedule, peak = first_checkpoint(cfg, model, corpus, resume, rng, log, len(batches))
    ckpt.train_config = {
        **asdict(cfg),
        "schedule": schedule,
        "corpus": os.path.abspath(corpus_path),
        "corpus_sha256": corpus.sha256,
        "corpus_file_sha256": corpus.file_sha256,
        "corpus_chars": len(corpus.ids),
        "steps_per_epoch": len(batches),
    }
    check_budget_left(ckpt, cfg, total_steps, resume)
    check_free_space(out_dir, cfg, ckpt, total_steps, rng)
    run_dir.prepare(log)  # every check passed: now the directory may change
    if run_dir.drops_best:
        ckpt.best_val = float("inf")  # the next validation writes best.npz of this branch
    ckpt.packed.clear()  # generation weights packed from these params go stale
    log(
        described(corpus_path, corpus, cfg, n_params, batches, val_ids, out_dir)
        + (f"; resuming at step {ckpt.step}" if resume else "")
    )
    threads = Threads(cfg.threads, step_work(n_params, model.layers, cfg.batch_size))
    run = Run(
        cfg=cfg,
        model=model,
        ckpt=ckpt,
        grads=np.zeros_like(ckpt.params),
        batches=batches,
        val_ids=val_ids,
        rng=rng,
        schedule=schedule,
        peak=peak,
        limit=limit,
        total_steps=total_steps,
        out_dir=out_dir,
        blocks=threads.update(),
        threads=threads,
        workspace=Workspace(cfg.precision),
        on_event=on_event,
        log=log,
        quiet=quiet,
    )
    state = first_state(run)
    timed_compile(run, state, log)
    return run, state


def described(corpus_path, corpus, cfg, n_params, batches, val_ids, out_dir):
    """The run in a line: its corpus, split, model and checkpoint directory."""
    train_chars = len(corpus.ids) - len(val_ids)
    return (
        f"corpus {corpus_path}: {len(corpus.ids):,} characters, vocabulary "
        f"{len(corpus.vocab)}, {train_chars:,} train / {len(val_ids):,} validation; model "
        f"{cfg.layers}x{cfg.hidden} {cfg.cell.upper()}, {n_params:,} parameters, "
        f"{cfg.precision} products; "
        f"{len(batches)} steps per epoch; checkpoints in {out_dir}"
    )


def timed_compile(run, state, log):
    """compile_kernels, saying how long it took when the cache did not have them."""
    started = time.perf_counter()
    compile_kernels(run, state)
    seconds = time.perf_counter() - started
    if seconds > 5:
        log(
            f"compiled the kernels in {seconds:.0f} s (once for this installation and "
            "model type; kept in the cache)"
        )


def first_state(run):
    """The RunState at the checkpoint's step: the loop's first."""
    ckpt = run.ckpt
    train, val = History.from_checkpoint(ckpt, "train"), History.from_checkpoint(ckpt, "val")
    at_epoch_start = ckpt.batch_index == 0
    return RunState(
        step=ckpt.step,
        epoch=ckpt.epoch,
        batch=ckpt.batch_index,
        lr=ckpt.lr,
        carried=zero_state(run.model, run.cfg.batch_size) if at_epoch_start else ckpt.state,
        chars=ckpt.chars,
        clock=Clock(before=ckpt.seconds),
        train=train,
        val=val,
        chars_at_start=ckpt.chars,
        smooth=train.last()["loss"] if train else None,
        last_validated=val.last()["step"] if val else 0,
        next_validation=run.cfg.eval_seconds or math.inf,
    )


def first_checkpoint(cfg, model, corpus, resume, rng, log, steps_per_epoch):
    """(checkpoint, schedule, peak learning rate) the run starts from: the one
    it resumes, checked against ``cfg``, or new weights drawn from ``rng``."""
    if resume:
        ckpt = checkpoint.load(resume)
        check_resumable(ckpt, cfg, corpus, resume, log)
        checkpoint.check_continuable(ckpt, resume, steps_per_epoch)
        rng.bit_generator.state = json.loads(ckpt.rng_state)
        schedule = schedules.resolve(
            cfg.schedule, cfg.lr_decay, resumed_without_schedule="schedule" not in ckpt.train_config
        )
        peak = json.loads(ckpt.schedule).get("peak_lr", ckpt.lr)
        if cfg.lr is not None and cfg.lr != ckpt.train_config.get("lr"):
            ckpt.lr = peak = cfg.lr
        return ckpt, schedule, peak
    schedule = schedules.resolve(cfg.schedule, cfg.lr_decay)
    params = init_params(model, rng)
    peak = cfg.lr if cfg.lr is not None else default_lr(cfg.optimizer, cfg.cell)
    ckpt = checkpoint.Checkpoint(
        model=model,
        vocab=corpus.vocab,
        params=params,
        optimizer=cfg.optimizer,
        optimizer_state=optim.init_state(cfg.optimizer, params.size),
        lr=peak,
    )
    return ckpt, schedule, peak


def prepare_out_dir(out_dir):
    """Prove ``out_dir`` writable, clear what a killed run left there."""
    try:
        files.write_atomically(os.path.join(out_dir, ".write-test"), lambda f: None)
        os.unlink(os.path.join(out_dir, ".write-test"))
    except OSError as e:
        raise CharrnnError(f"{out_dir}: cannot write checkpoints there ({e.strerror})") from None
    files.remove_stale_temporaries(out_dir)


def check_model_size(model):
    """The model's parameter count, refused above MAX_PARAMS (or MAX_LAYERS layers)."""
    if model.layers > MAX_LAYERS:
        raise CharrnnError(f"--layers {model.layers:,}: more than {MAX_LAYERS:,}")
    n_params = param_count(model)
    if n_params > MAX_PARAMS:
        raise CharrnnError(
            f"a {model.layers}x{model.hidden} model over {model.vocab_size} "
            f"characters has {n_params:,} parameters, more than {MAX_PARAMS:,}; "
            "lower --hidden or --layers"
        )
    return n_params


def step_budget(cfg, steps_per_epoch):
    """(name, steps) of the budget that ends the run first, over all resumes:
    --max-steps, all --epochs or --max-chars (every step reads B*T characters)."""
    limits = {
        "steps": cfg.max_steps,
        "epochs": cfg.epochs * steps_per_epoch,
        "chars": None
        if cfg.max_chars is None
        else -(-cfg.max_chars // (cfg.batch_size * cfg.seq_length)),
    }
    limit = min((name for name in limits if limits[name] is not None), key=limits.get)
    return limit, limits[limit]


def check_resumable(ckpt, cfg, corpus, resume_path, log):
    """Refuse a resume that would change the model or the data; report other changes."""
    saved = ckpt.train_config
    fixed = [
        f"{option_name(k)} {getattr(cfg, k)} (the run used {saved.get(k)})"
        for k in FIXED_ON_RESUME
        if saved.get(k) != getattr(cfg, k)
    ]
    if fixed:
        raise CharrnnError(
            f"cannot resume {resume_path} with a different {'; '.join(fixed)}: leave "
            "it out (a resumed run keeps its own), or start a new run without --resume"
        )
    if saved.get("corpus_sha256") != corpus.sha256:
        raise CharrnnError(
            f"cannot resume {resume_path}: the corpus differs from the one the run "
            f"was trained on ({saved.get('corpus')}, "
            f"{saved.get('corpus_chars', 0):,} characters): name that file as CORPUS, "
            "or start a new run without --resume"
        )
    changed = [
        f"{option_name(k)} {saved.get(k)} -> {v}"
        for k, v in asdict(cfg).items()
        if k not in FIXED_ON_RESUME + NOT_CARRIED and k != "seed" and saved.get(k) != v
    ]
    if changed:
        log(f"resuming with changed options: {', '.join(changed)}")


def check_budget_left(ckpt, cfg, total_steps, resume):
    """Refuse to resume a run that has already spent its budget."""
    if ckpt.step >= total_steps:
        raise CharrnnError(
            f"{resume} is at step {ckpt.step}, which already reaches --max-steps, "
            f"--max-chars or --epochs ({total_steps} steps); raise them to train "
            "further"
        )
    if cfg.max_time is not None and ckpt.seconds >= cfg.max_time:
        raise CharrnnError(
            f"{resume} has trained for {ckpt.seconds:.0f} s, which already "
            f"reaches --max-time {cfg.max_time:g} s (the run's total, over "
            "resumes); raise it to train further"
        )


def training_bytes(model, cfg, n_params):
    """The memory a training step of ``model`` takes, at least: the weights,
    their gradients and the optimizer's state (4 bytes a parameter each), and
    what backward keeps of each layer over a chunk, T x B x H for each of the
    cell's gate blocks (its bias has one entry a gate pre-activation) and,
    with dropout, its masks and the dropped outputs; the logits.  A lower
    bound (measured, the cells keep up to 1.6 blocks more a layer): a run
    that fits is never refused."""
    T, B, H = cfg.seq_length, cfg.batch_size, model.hidden
    weights = 4 * n_params * (2 + len(optim.STATE_NAMES[cfg.optimizer]))
    biases = dict(cells.get(model.cell).layer_shapes(0, model.vocab_size, H))["b0"]
    kept = biases[0] // H + (2 if model.dropout else 0)
    return weights + 4 * T * B * (model.layers * H * kept + model.vocab_size)


def check_free_space(out_dir, cfg, ckpt, total_steps, rng):
    """Refuse a run whose kept checkpoints would not fit: best, last, the kept
    step files and one temporary file being written."""
    validations = total_steps // (cfg.eval_every if cfg.eval_seconds is None else 1) + 1
    kept = 3 + (validations if cfg.keep is None else min(cfg.keep, validations))
    one = checkpoint_bytes(out_dir, ckpt, cfg.batch_size, total_steps + validations, rng)
    block = os.statvfs(out_dir).f_frsize or 1  # a file takes whole blocks
    one = -(-one // block) * block
    existing = sum(
        os.path.getsize(os.path.join(out_dir, name)) for name in runs.checkpoint_files(out_dir)
    )  # replaced as the run goes
    free = shutil.disk_usage(out_dir).free + existing
    if free < kept * one:
        raise CharrnnError(
            f"{out_dir}: {free / 1e6:,.1f} MB free, but the {kept} checkpoints "
            f"this run keeps (--keep {'all' if cfg.keep is None else cfg.keep}) "
            f"need {kept * one / 1e6:,.1f} MB"
        )


def checkpoint_bytes(out_dir, ckpt, batch_size, rows, rng):
    """The size of one of this run's checkpoints at its end: ``ckpt`` without
    its large arrays is written for real into ``out_dir`` (every field, the
    zip's and the .npy files' headers) and measured, and their data added:
    weights and optimizer state, the carried state (L, S, B, H) and ``rows``
    history rows (4 float64 each), with CHECKPOINT_MARGIN for what grows."""
    empty = np.zeros(0, np.float32)
    rows_of = {f"{h}_{k}": np.zeros(0) for h in ("train", "val") for k in ("seconds", "chars")}
    skeleton = replace(
        ckpt,
        params=empty,
        optimizer_state={name: empty for name in ckpt.optimizer_state},
        state=np.zeros((0, 0, 0, 0), np.float32),
        rng_state=json.dumps(rng.bit_generator.state),
        train_history=np.zeros((0, 2)),
        val_history=np.zeros((0, 2)),
        **rows_of,
    )
    path = os.path.join(out_dir, f"{files.TMP_PREFIX}{os.getpid()}-size.npz")
    try:
        checkpoint.save(path, skeleton)
        size = os.path.getsize(path)
        os.unlink(path)
    except OSError as e:
        raise CharrnnError(f"{out_dir}: cannot write checkpoints there ({e.strerror})") from None
    m = ckpt.model
    arrays = ckpt.params.nbytes + sum(a.nbytes for a in ckpt.optimizer_state.values())
    state = 4 * m.layers * state_size(m) * batch_size * m.hidden
    return size + arrays + state + 32 * rows + CHECKPOINT_MARGIN


def compile_kernels(run, state):
    """Run every kernel of a training step and of validation once, on throwaway
    outputs, before the clock starts: the first run after an installation
    compiles them (a minute or more), which is not training time and must not
    eat a --max-time budget.  Nothing the run carries is touched (weights,
    optimizer state, carried state, random generator; ``run.grads`` is
    scratch), so --seed and resume stay exact; with the compiled code cached,
    this costs about one step."""
    cfg, model, params = run.cfg, run.model, run.ckpt.params
    inputs, targets = run.batches[state.batch]
    masks = dropout_masks(model, np.random.default_rng(0), *inputs.shape)
    loss_and_grad(
        params,
        model,
        inputs,
        targets,
        state.carried.copy(),
        masks,
        run.grads,
        run.blocks,
        run.workspace,
    )
    small = np.zeros(8, params.dtype)  # the optimizer's kernels compile for types, not sizes
    _, scale = optim.clip_scale(small, cfg.grad_clip)
    optim.update(
        cfg.optimizer, small.copy(), small, optim.init_state(cfg.optimizer, 8), 0.0, 1, scale
    )
    with run.workspace.products_in("float32") as ws:  # validation's (loop.validate_and_save)
        val_ids = run.val_ids[: 2 * cfg.batch_size + 2]
        stream_loss(params, model, val_ids, cfg.batch_size, cfg.seq_length, run.blocks, ws)
