"""charrnn against a PyTorch reference of the same model: speed and memory.

The model is the same on both sides: a one-hot (lookup) input, L stacked
recurrent layers of H units of one cell and a linear decoder over a V = 65
character vocabulary, trained on tinyshakespeare with cross-entropy,
global-norm clipping at 5 and Adam (lr 2e-3), the hidden state carried across
steps over B contiguous streams.  The cells (--cell) and their PyTorch peers:

  * lstm   nn.LSTM: the same cell.
  * gru    nn.GRU: the nearest peer, not the same cell.  charrnn's GRU is the
           lectures': h~ = tanh(W_xh x + W_hh (r * h) + b_h), the reset applied
           before the recurrent product, so a step makes two dependent products
           (h @ [W_hr | W_hz], then (r * h) @ W_hh).  PyTorch's resets after it,
           n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): one recurrent product
           per step.  Same parameter count up to the biases.
  * rnn    nn.RNN(nonlinearity='tanh'): the same cell.
  * mut1, mut2, mut3 (Jozefowicz et al. 2015): no PyTorch peer; charrnn's
           figures only, to be read beside the GRU's (the table lists the
           cells of a configuration together).

For every (cell, configuration) it measures

  * training chars/s      (steps * batch * seq / seconds, after 2 warm-up steps)
  * sampling chars/s      (batch 1, 2000 characters, temperature 1)
  * beam search chars/s   (width 7, 200 characters; generated chars / seconds)
    both once per precision of charrnn's weights (--precisions: float32,
    bfloat16, int8; charrnn.precision), against PyTorch's float32
    (a generation run shorter than a second is repeated until a second has passed)
  * peak RSS of training  (ru_maxrss of the whole worker process, MB)
  * peak RSS of the whole training command, as a user runs it (MB): charrnn's
    `python -m charrnn train` against bench/torch_train_command.py, the
    PyTorch script a careful user writes for the same job, each a child
    process of the worker, its ru_maxrss from os.wait4: corpus loading,
    training, validation over the whole held-out 10% (111,539 chars) and
    checkpoint writing, 3 validation runs (command_schedule); the notes give
    both final validation losses and what the command adds to the training loop
  * training GFLOP/s as a fraction of the float32 matmul peak that NumPy's
    BLAS reaches on this machine with the same number of threads (measured
    at start: a 2048 x 2048 matmul, median of several)

FLOPs per training character (forward_flops below; the same count for both
sides, charrnn's products, matrix products only): training = 3 x forward,
forward = the cell's layers + 2*H*V (decoder).  A layer's products per
character, 2 FLOPs per multiply-add; layer 0 of lstm, gru, rnn and mut3
reads a one-hot character, a row lookup (no input product):

  * lstm          layer 0: 2*H*4H (h @ W_h);  above: + 2*H*4H (x @ W_x)
  * gru, mut3     layer 0: 2*H*3H (h @ [W_hr|W_hz] and (r*h) @ W_hh);
                  above: + 2*H*3H (x @ W_x)
  * rnn           layer 0: 2*H*H;  above: + 2*H*H
  * mut1          every layer: 2*H*2H (x @ W_x) + 2*H*2H (W_h): layer 0's x
                  is an H-wide embedding (a row lookup) that W_x multiplies
  * mut2          every layer: 2*H*2H (x @ W_x) + 2*H*3H (W_h), as mut1

Every measurement runs in a fresh subprocess (this script with --worker,
printing one JSON line), with OPENBLAS/OMP/MKL_NUM_THREADS set to its thread
count, so peak RSS and thread settings are clean.  Each round runs charrnn and
PyTorch alternately for every (cell, configuration, task) (the order flips
every round; a MUT cell runs charrnn alone); the table reports medians over
rounds.  charrnn trains, samples and beam-searches with --threads threads.
Each PyTorch figure is the better of 1 and 2 threads (torch.set_num_threads),
and the table says which.  PyTorch is only a benchmark dependency:
pip install torch==2.13.0.

    python bench/run.py                       # 3 rounds, LSTM, all configurations (~20 min)
    python bench/run.py --rounds 5 --configs 2x128,2x512
    python bench/run.py --cell gru,rnn --configs 2x128,2x512
    python bench/run.py --cell all --tasks train    # every cell, training only
    python bench/run.py --tasks train,command # memory: the training loop, the whole command
    python bench/run.py --quick               # seconds-long smoke test (plus compiling)
    python bench/run.py --quick --cell all --tasks train
"""
import argparse
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata, util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared/corpora/tinyshakespeare.txt"
TORCH_COMMAND = Path(__file__).resolve().parent / "torch_train_command.py"
VAL_FRAC = 0.1  # of the whole-command runs: the last 111,539 characters
TASKS = ("train", "sample", "beam", "command")
VOCAB_SIZE = 65
LR, CLIP, BEAM_WIDTH, TEMPERATURE = 2e-3, 5.0, 7, 1.0
TORCH_THREADS = (1, 2)
TORCH_MISSING = ("PyTorch is not installed; it is needed only for this benchmark: "
                 "pip install torch==2.13.0")
CELLS = ("lstm", "gru", "rnn", "mut1", "mut2", "mut3")  # charrnn's (charrnn.cells.CELLS)
PEERS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}   # cell -> torch.nn module; MUTs: none
GRU_NOTE = ("PyTorch's GRU resets after the recurrent product (r * (W_hn h + b_hn)); "
            "charrnn's GRU is the lectures' (reset before W_hh, two dependent products "
            "per step)")


def forward_flops(cell, H, L, V):
    """FLOPs of one character's forward pass (2 per multiply-add, matrix
    products only), counting charrnn's products; a one-hot input is a row
    lookup (no FLOPs)."""
    if cell == "lstm":    # gates [i f g o]: h @ W_h (H x 4H); above layer 0 also x @ W_x (H x 4H)
        first, above = 2 * H * 4 * H, 2 * (2 * H * 4 * H)
    elif cell in ("gru", "mut3"):  # h @ [W_hr|W_hz] (H x 2H) then (r*h) @ W_hh (H x H) (MUT3:
        # W_hz multiplies tanh(h), the same size); above layer 0 also x @ W_x (H x 3H)
        first, above = 2 * H * 3 * H, 2 * (2 * H * 3 * H)
    elif cell == "rnn":   # h @ W_hh (H x H); above layer 0 also x @ W_xh (H x H)
        first, above = 2 * H * H, 2 * (2 * H * H)
    elif cell == "mut1":  # x @ [W_xr|W_xz] (H x 2H), layer 0's x an H-wide embedding row
        # (the lookup is free, the product is not); h @ W_hr then (r*h) @ W_hh (H x 2H in all)
        first = above = 2 * H * 2 * H + 2 * H * 2 * H
    elif cell == "mut2":  # x @ [W_xz|W_xh] (H x 2H), layer 0's x an H-wide embedding row;
        # h @ [W_hr|W_hz] then (r*h) @ W_hh (H x 3H in all)
        first = above = 2 * H * 2 * H + 2 * H * 3 * H
    else:
        raise ValueError(f"no FLOP count for cell {cell!r}")
    return first + (L - 1) * above + 2 * H * V  # + the decoder


FLOP_FORMULAS = {  # forward FLOPs per character, as text for the notes
    "lstm": "2*H*4H + (L-1)*2*2H*4H + 2*H*V",
    "gru": "2*H*3H + (L-1)*2*2H*3H + 2*H*V",
    "mut3": "2*H*3H + (L-1)*2*2H*3H + 2*H*V",
    "rnn": "2*H*H + (L-1)*2*2H*H + 2*H*V",
    "mut1": "L*(2*H*2H + 2*H*2H) + 2*H*V",
    "mut2": "L*(2*H*2H + 2*H*3H) + 2*H*V",
}


@dataclass(frozen=True)
class Config:
    name: str
    hidden: int
    layers: int
    batch: int
    seq: int

    def flops_per_train_char(self, cell, vocab=VOCAB_SIZE):
        return 3 * forward_flops(cell, self.hidden, self.layers, vocab)


CONFIGS = {c.name: c for c in (
    Config("2x128", hidden=128, layers=2, batch=50, seq=50),
    Config("2x512", hidden=512, layers=2, batch=50, seq=50),
    Config("3x256", hidden=256, layers=3, batch=64, seq=100),
)}


# ----------------------------------------------------------------- worker side

def load_ids():
    """(chars, ids): the corpus encoded with its sorted character vocabulary."""
    import numpy as np
    text = CORPUS.read_text(encoding="utf-8")
    chars = "".join(sorted(set(text)))
    lut = np.zeros(max(map(ord, chars)) + 1, np.uint8)
    lut[[ord(ch) for ch in chars]] = np.arange(len(chars))
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    return chars, lut[codes]


def stream_batch(ids, batch, seq, k):
    """Batch k of the corpus walked as ``batch`` contiguous streams (as
    charrnn.data.batches.StreamBatcher does), wrapping round after the last full one:
    (inputs, targets), each (seq, batch)."""
    import numpy as np
    columns = (len(ids) - 1) // batch
    k %= columns // seq
    positions = np.arange(k * seq, (k + 1) * seq + 1)[:, None] + np.arange(batch)[None, :] * columns
    chunk = ids[positions].astype(np.int64)
    return chunk[:-1], chunk[1:]


def rss_now_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def timed_steps(step, seconds, min_steps, warmup=2):
    """Run ``warmup`` steps, then N timed steps, N chosen from the last warm-up
    step so that they take about ``seconds``.  Returns (N, elapsed, last loss)."""
    for _ in range(warmup - 1):
        step()
    started = time.perf_counter()
    step()
    one = time.perf_counter() - started
    n = max(min_steps, math.ceil(seconds / max(one, 1e-6)))
    started = time.perf_counter()
    for _ in range(n):
        loss = step()
    return n, time.perf_counter() - started, loss


def measure_peak(threads, size, repeats):
    """float32 matmul GFLOP/s of NumPy's BLAS (threads come from the environment)."""
    import numpy as np
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - started)
    return {"gflops": 2 * size ** 3 / statistics.median(times) / 1e9, "size": size,
            "repeats": repeats, "numpy": np.__version__}


# charrnn

def charrnn_modules():
    sys.path.insert(0, str(REPO))  # works from a checkout without installing
    import charrnn
    return charrnn


def charrnn_checkpoint(cfg, cell):
    import numpy as np
    charrnn_modules()
    from charrnn.checkpoint import Checkpoint
    from charrnn.data.corpus import Vocabulary
    from charrnn.model import ModelConfig, init_params
    chars, _ = load_ids()
    model = ModelConfig(vocab_size=len(chars), hidden=cfg.hidden, layers=cfg.layers, cell=cell)
    params = init_params(model, np.random.default_rng(0))
    return Checkpoint(model=model, vocab=Vocabulary(chars), params=params)


def charrnn_train(cfg, cell, threads, seconds, min_steps):
    import numpy as np
    charrnn_modules()
    from charrnn import optim
    from charrnn.data.batches import StreamBatcher
    from charrnn.kernels.buffers import Workspace
    from charrnn.kernels.threads import use_threads
    from charrnn.model import ModelConfig, init_params, loss_and_grad, zero_state
    chars, ids = load_ids()
    model = ModelConfig(vocab_size=len(chars), hidden=cfg.hidden, layers=cfg.layers, cell=cell)
    params = init_params(model, np.random.default_rng(0))
    grads = np.zeros_like(params)
    state = optim.init_state("adam", params.size)
    batches = StreamBatcher(ids, cfg.batch, cfg.seq)
    full = batches.columns // cfg.seq  # batches of the full length
    blocks = use_threads(threads)
    carried = zero_state(model, cfg.batch)
    workspace = Workspace()  # buffers reused from step to step, as charrnn.train does
    count = 0
    baseline = rss_now_mb()

    def step():
        nonlocal carried, count
        inputs, targets = batches[count % full]
        loss, carried = loss_and_grad(params, model, inputs, targets, carried, None, grads,
                                      blocks, workspace)
        _, scale = optim.clip_scale(grads, CLIP)
        count += 1
        optim.update("adam", params, grads, state, LR, count, scale)
        return float(loss)

    n, elapsed, loss = timed_steps(step, seconds, min_steps)
    return {"steps": n, "seconds": elapsed, "chars_per_s": n * cfg.batch * cfg.seq / elapsed,
            "loss": loss, "rss_before_mb": baseline, "peak_rss_mb": peak_rss_mb()}


MIN_GENERATION_SECONDS = 1.0  # a fast run is repeated until it takes this long


def timed_generation(generate, length, warmup_length):
    """Time generate(length) -> text after one warm-up call (compiling, caches),
    repeated until MIN_GENERATION_SECONDS have passed: hundredths of a second
    are too short to time on a shared machine."""
    generate(warmup_length)
    calls, started = 0, time.perf_counter()
    while calls == 0 or time.perf_counter() - started < MIN_GENERATION_SECONDS:
        text = generate(length)
        assert len(text) == length
        calls += 1
    elapsed = time.perf_counter() - started
    return {"chars": calls * length, "seconds": elapsed, "chars_per_s": calls * length / elapsed}


def generation_threads(threads):
    """Numba's threads for charrnn's generation (the CLI uses all CPUs)."""
    import numba
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def precision_of(impl):
    """charrnn's impl names carry the precision of generation's weights:
    "charrnn" (float32), "charrnn:int8", "charrnn:bfloat16"."""
    return impl.partition(":")[2] or "float32"


def charrnn_sample(cfg, cell, length, threads, precision):
    from charrnn.sample import sample_text
    generation_threads(threads)
    ckpt = charrnn_checkpoint(cfg, cell)
    return timed_generation(
        lambda n: "".join(sample_text(ckpt, n, temperature=TEMPERATURE, seed=0,
                                      precision=precision)), length, 50)


def charrnn_beam(cfg, cell, length, threads, precision):
    from charrnn.sample import beam_text
    generation_threads(threads)
    ckpt = charrnn_checkpoint(cfg, cell)
    return timed_generation(lambda n: beam_text(ckpt, n, BEAM_WIDTH, precision=precision)[0],
                            length, 10)


# PyTorch

def import_torch(threads):
    # The running script's directory (bench/) is on sys.path and holds other
    # scripts, whose names must not shadow the standard library's for torch:
    # a bench/profile.py hides `profile`, which torch imports through cProfile.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    try:
        import torch
    except ImportError:
        print(json.dumps({"error": TORCH_MISSING}), flush=True)
        sys.exit(3)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return torch


def torch_model(torch, cfg, cell, vocab):
    """PEERS[cell] (nn.LSTM, nn.GRU or nn.RNN with tanh) over one-hot inputs,
    then the decoder.  The state is (h, c) for the LSTM, else h."""
    if cell not in PEERS:
        raise ValueError(f"cell {cell!r} has no PyTorch peer")

    class TorchLM(torch.nn.Module):
        def __init__(self, V, H, L):
            super().__init__()
            self.V = V
            extra = {"nonlinearity": "tanh"} if cell == "rnn" else {}
            self.rnn = getattr(torch.nn, PEERS[cell])(V, H, L, **extra)
            self.dec = torch.nn.Linear(H, V)

        def forward(self, x, state):  # x (T, B) int64
            out, state = self.rnn(torch.nn.functional.one_hot(x, self.V).float(), state)
            return self.dec(out), state

    return TorchLM(vocab, cfg.hidden, cfg.layers)


def map_state(state, fn):
    """fn applied to h (and c): the state as the module takes it."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def torch_train(cfg, cell, threads, seconds, min_steps):
    torch = import_torch(threads)
    chars, ids = load_ids()
    V = len(chars)
    model = torch_model(torch, cfg, cell, V)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    zeros = torch.zeros(cfg.layers, cfg.batch, cfg.hidden)
    state = (zeros, zeros.clone()) if cell == "lstm" else zeros
    count = 0
    baseline = rss_now_mb()

    def step():
        nonlocal state, count
        inputs, targets = (torch.from_numpy(a) for a in stream_batch(ids, cfg.batch, cfg.seq, count))
        count += 1
        logits, state = model(inputs, state)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        state = map_state(state, lambda s: s.detach())
        return loss.item()

    n, elapsed, loss = timed_steps(step, seconds, min_steps)
    return {"steps": n, "seconds": elapsed, "chars_per_s": n * cfg.batch * cfg.seq / elapsed,
            "loss": loss, "rss_before_mb": baseline, "peak_rss_mb": peak_rss_mb(),
            "torch": torch.__version__}


def torch_sample(cfg, cell, threads, length):
    torch = import_torch(threads)
    chars, _ = load_ids()
    model = torch_model(torch, cfg, cell, len(chars)).eval()
    newline = chars.index("\n")

    def sample(n):
        out = []
        with torch.no_grad():
            logits, state = model(torch.tensor([[newline]]), None)
            for _ in range(n):
                probs = torch.softmax(logits[-1, 0] / TEMPERATURE, dim=-1)
                x = torch.multinomial(probs, 1)
                out.append(x.item())
                logits, state = model(x.view(1, 1), state)
        return "".join(chars[i] for i in out)

    return {**timed_generation(sample, length, 50), "torch": torch.__version__}


def torch_beam(cfg, cell, threads, length):
    torch = import_torch(threads)
    chars, _ = load_ids()
    V, K = len(chars), BEAM_WIDTH
    model = torch_model(torch, cfg, cell, V).eval()
    newline = chars.index("\n")

    def beam(n):
        parents, tokens = [], []
        with torch.no_grad():
            logits, state = model(torch.tensor([[newline]]), None)
            state = map_state(state, lambda s: s.repeat(1, K, 1))  # (L, K, H) each
            beam_logits = logits[0].expand(K, V)
            score = torch.full((K,), -math.inf)
            score[0] = 0.0  # only beam 0 is live at the first step
            for t in range(n):
                candidates = (score[:, None] + torch.log_softmax(beam_logits, dim=-1)).view(-1)
                score, index = candidates.topk(K)
                parent, token = index // V, index % V
                parents.append(parent)
                tokens.append(token)
                if t + 1 == n:
                    break
                state = map_state(state, lambda s: s[:, parent])
                logits, state = model(token.view(1, K), state)
                beam_logits = logits[0]
        best, k = [], 0  # topk is sorted: beam 0 is the best
        for parent, token in zip(reversed(parents), reversed(tokens)):
            best.append(int(token[k]))
            k = int(parent[k])
        return "".join(chars[i] for i in reversed(best))

    return {**timed_generation(beam, length, 10), "torch": torch.__version__}


# the whole training command, as a user runs it

def command_schedule(cfg, steps=0):
    """(max steps, steps between validation runs) of a whole-command run:
    three validation runs (each over the whole validation split, each writing
    checkpoints), so that they and not the first steps set the peak.  Every 5
    steps for the big configurations (a 2x512 run takes ~20 s on an idle
    machine), every 20 for 2x128, whose validation is quick; ``steps``
    (--command-steps) overrides it."""
    if steps:
        return steps, max(1, steps // 3)
    every = 20 if cfg.hidden <= 128 else 5
    return 3 * every, every


def child_peak(command, env):
    """Run ``command``; (exit code, stdout, stderr, peak RSS in MB, seconds).
    The peak is ru_maxrss of that child alone, from os.wait4 (kB on Linux).
    Output goes to files, not pipes: communicate() would reap the child itself
    and its rusage would be lost.  The child starts from a vfork of this
    process and Linux keeps the high-water RSS of the address space it exec'd
    from, so this process's own peak (stdlib only, ~20 MB: nothing heavy is
    imported on this path) is a floor under the figure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), usage.ru_maxrss / 1024, seconds)


def train_command(impl, cfg, cell, threads, steps, every, out):
    """The command line of a whole training run into the directory ``out``."""
    common = [str(CORPUS), "--cell", cell, "--val-frac", str(VAL_FRAC), "--hidden",
              str(cfg.hidden), "--layers", str(cfg.layers), "--batch-size", str(cfg.batch),
              "--seq-length", str(cfg.seq), "--max-steps", str(steps), "--eval-every",
              str(every), "--threads", str(threads), "--out", out]
    if impl == "charrnn":  # --keep at its default; --force: --out is a fresh directory anyway
        return [sys.executable, "-m", "charrnn", "train", *common, "--force", "--json"]
    return [sys.executable, str(TORCH_COMMAND), *common]


def measure_command(impl, cfg, cell, threads, command_steps):
    """Peak RSS, wall time and validation losses of one whole training command.
    charrnn runs from this checkout (PYTHONPATH), with the worker's environment:
    thread variables, and the Numba cache that warm_cache filled."""
    steps, every = command_schedule(cfg, command_steps)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    tmp = tempfile.mkdtemp(prefix="charrnn-bench-command-")
    try:
        command = train_command(impl, cfg, cell, threads, steps, every,
                                os.path.join(tmp, "run"))
        code, out, err, peak, seconds = child_peak(command, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    if events and events[-1].get("error") and events[-1].get("event") != "end":
        return events[-1]  # PyTorch missing (import_torch): the parent reports it
    validations = [e for e in events if e.get("event") == "validation"]
    if code != 0 or not events or events[-1].get("event") != "end" or not validations:
        raise SystemExit(f"{shlex.join(command)} failed, exit {code}:\n{err[-3000:]}")
    return {"peak_rss_mb": peak, "seconds": seconds, "steps": steps, "eval_every": every,
            "validations": len(validations), "val_loss": validations[-1]["val_loss"],
            "best_val_loss": events[-1]["best_val_loss"], "command": shlex.join(command)}


def worker(args):
    """One measurement in this (fresh) process; prints one JSON line."""
    cfg = CONFIGS.get(args.config)
    if args.worker == "peak":
        result = measure_peak(args.threads, args.peak_size, args.peak_repeats)
    elif args.worker == "train":
        fn = charrnn_train if args.impl == "charrnn" else torch_train
        result = fn(cfg, args.cell, args.threads, args.seconds, args.min_steps)
    elif args.worker == "command":
        result = measure_command(args.impl, cfg, args.cell, args.threads, args.command_steps)
    elif args.worker == "sample":
        result = (charrnn_sample(cfg, args.cell, args.sample_length, args.threads,
                                 precision_of(args.impl))
                  if args.impl.startswith("charrnn")
                  else torch_sample(cfg, args.cell, args.threads, args.sample_length))
    else:
        result = (charrnn_beam(cfg, args.cell, args.beam_length, args.threads,
                               precision_of(args.impl))
                  if args.impl.startswith("charrnn")
                  else torch_beam(cfg, args.cell, args.threads, args.beam_length))
    result.update(task=args.worker, impl=args.impl, cell=args.cell, config=args.config,
                  threads=args.threads, env_threads=os.environ.get("OPENBLAS_NUM_THREADS"))
    print(json.dumps(result), flush=True)


# ----------------------------------------------------------------- parent side

def run_worker(args, task, impl="", config="", threads=1, cell="lstm"):
    """Run one measurement in a fresh subprocess with ``threads`` BLAS/OpenMP threads."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", task, "--impl", impl,
               "--cell", cell, "--config", config, "--threads", str(threads),
               "--seconds", str(args.seconds),
               "--min-steps", str(args.min_steps), "--sample-length", str(args.sample_length),
               "--beam-length", str(args.beam_length), "--peak-size", str(args.peak_size),
               "--peak-repeats", str(args.peak_repeats),
               "--command-steps", str(args.command_steps)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if result is not None and "error" in result:
        sys.exit(result["error"])
    if proc.returncode != 0 or result is None:
        sys.exit(f"worker failed ({shlex.join(command)}), exit {proc.returncode}:\n"
                 f"{proc.stderr[-3000:]}")
    return result


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or model
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return f"{model}, {os.cpu_count()} logical CPUs ({usable} usable)"


def version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


STARTED = time.perf_counter()


def log(message):
    print(f"[{time.perf_counter() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def contenders(args, cell, round_no, task):
    """[(impl, threads)] in this round's order: charrnn first in odd rounds;
    charrnn alone for a cell without a PyTorch peer.  Generation runs charrnn
    once per --precisions."""
    ours = ["charrnn"]
    if task in ("sample", "beam"):
        ours = [f"charrnn:{p}" if p != "float32" else "charrnn" for p in args.precisions]
    order = ([(impl, args.threads) for impl in ours] +
             [("torch", t) for t in TORCH_THREADS if cell in PEERS])
    return order if round_no % 2 == 1 else order[::-1]


def peak_threads(args):
    return sorted({args.threads, *TORCH_THREADS})


def warm_cache(args, cells):
    """One short charrnn run of every cell and task before the rounds, so that Numba's
    on-disk cache holds every kernel: each round then measures what a user's
    second run sees, not compilation (time, and the compiler's memory).  The
    cache is a fresh directory for this run: Numba's own check of a cached
    kernel looks at its source file only, not at the kernels it inlines.  The
    command task warms with a real `charrnn train` of 2 steps at 2x128 (two
    validation runs, checkpoints): the kernels are compiled for types, not sizes."""
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="charrnn-bench-cache-")
    short = argparse.Namespace(**{**vars(args), "seconds": 0.1, "min_steps": 1,
                                  "sample_length": 20, "beam_length": 5, "command_steps": 2})
    for cell in cells:
        for task in args.tasks.split(","):
            for impl, _ in contenders(args, cell, 1, task):
                if impl.startswith("charrnn"):
                    run_worker(short, task, impl, "2x128", args.threads, cell)
        log(f"compiled {cell}")
    log(f"Numba's cache is warm ({os.environ['NUMBA_CACHE_DIR']})")
    return os.environ["NUMBA_CACHE_DIR"]


def run_rounds(args, cells, configs):
    """results[(cell, config, task, impl, threads)] = [one result per round];
    the matmul peaks under ("peak", "peak", "peak", "numpy", threads)."""
    results = {}
    for round_no in range(1, args.rounds + 1):
        for threads in peak_threads(args):
            r = run_worker(args, "peak", threads=threads)
            results.setdefault(("peak", "peak", "peak", "numpy", threads), []).append(r)
            log(f"round {round_no}/{args.rounds} matmul peak {threads}t: {r['gflops']:.1f} GFLOP/s")
        for cfg in configs:
            for cell in cells:
                for task in args.tasks.split(","):
                    for impl, threads in contenders(args, cell, round_no, task):
                        r = run_worker(args, task, impl, cfg.name, threads, cell)
                        results.setdefault((cell, cfg.name, task, impl, threads), []).append(r)
                        head = (f"round {round_no}/{args.rounds} {cell:4s} {cfg.name} {task:7s} "
                                f"{impl:7s} {threads}t: ")
                        if task == "command":  # no rate: a peak, a time and a loss
                            log(f"{head}peak RSS {r['peak_rss_mb']:.0f} MB, {r['steps']} steps "
                                f"and {r['validations']} validation runs in "
                                f"{r['seconds']:.1f} s, val loss {r['val_loss']:.3f}")
                            continue
                        extra = (f", {r['steps']} steps in {r['seconds']:.1f} s, "
                                 f"loss {r['loss']:.3f}, peak RSS {r['peak_rss_mb']:.0f} MB"
                                 if task == "train"
                                 else f", {r['chars']} chars in {r['seconds']:.2f} s")
                        log(f"{head}{r['chars_per_s']:>10,.0f} chars/s{extra}")
    return results


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def spread(runs, key):
    """Half the range across rounds, relative to the median."""
    values = [r[key] for r in runs]
    return (max(values) - min(values)) / 2 / statistics.median(values) if len(values) > 1 else 0.0


def table(args, cells, configs, results, peaks):
    """Markdown rows of medians over rounds, the cells of a configuration
    together; each PyTorch cell takes its better thread count (more chars/s,
    less memory, higher fraction of peak).  '-' where a cell has no peer."""
    rows = ["| cell | config | metric | charrnn | PyTorch | PyTorch module | PyTorch threads "
            "| charrnn / PyTorch |",
            "|---|---|---|---:|---:|---|---:|---:|"]

    def compare(cell, cfg, task, metric, figure, lower_is_better=False,
                text=lambda v: f"{v:,.0f}", impl="charrnn"):
        """figure(runs, threads) -> number; add the row comparing the medians."""
        if (cell, cfg.name, task, impl, args.threads) not in results:
            return  # not measured this run (--tasks, --precisions)
        ours = figure(results[(cell, cfg.name, task, impl, args.threads)], args.threads)
        if cell in PEERS:
            theirs = {t: figure(results[(cell, cfg.name, task, "torch", t)], t)
                      for t in TORCH_THREADS}
            best = (min if lower_is_better else max)(theirs, key=theirs.get)
            peer = (text(theirs[best]), f"nn.{PEERS[cell]}", best, f"{ours / theirs[best]:.2f}")
        else:
            peer = ("-",) * 4
        rows.append(f"| {cell} | {cfg.name} | {metric} | {text(ours)} | " +
                    " | ".join(map(str, peer)) + " |")

    def rate(runs, threads):
        return median_of(runs, "chars_per_s")

    def rss(runs, threads):
        return median_of(runs, "peak_rss_mb")

    for cfg in configs:
        for cell in cells:
            def peak_fraction(runs, threads, flops=cfg.flops_per_train_char(cell)):
                return rate(runs, threads) * flops / 1e9 / peaks[threads]["gflops"]

            compare(cell, cfg, "train", f"training chars/s (B{cfg.batch} T{cfg.seq})", rate)
            for p in args.precisions:
                impl, weights = ("charrnn", "") if p == "float32" else (f"charrnn:{p}",
                                                                        f", {p} weights")
                compare(cell, cfg, "sample",
                        f"sampling chars/s ({args.sample_length} chars{weights})", rate,
                        impl=impl)
                compare(cell, cfg, "beam",
                        f"beam-{BEAM_WIDTH} chars/s ({args.beam_length} chars{weights})", rate,
                        impl=impl)
            compare(cell, cfg, "train", "peak RSS training (MB)", rss, lower_is_better=True)
            compare(cell, cfg, "command", "peak RSS whole command (MB)", rss,
                    lower_is_better=True)
            compare(cell, cfg, "train", "training GFLOP/s / matmul peak", peak_fraction,
                    text=lambda v: f"{v:.3f}")
    return rows


def notes(args, cells, configs, results, peaks):
    """Lines under the table: achieved GFLOP/s, spread across rounds, losses, base RSS;
    the whole commands' losses, times and what they add to the training loop."""
    lines = []
    for cfg in configs:
        for cell in cells:
            if (cell, cfg.name, "train", "charrnn", args.threads) in results:
                lines += train_notes(args, cell, cfg, results)
            if (cell, cfg.name, "command", "charrnn", args.threads) in results:
                lines.append(command_note(args, cell, cfg, results))
    return lines


def train_notes(args, cell, cfg, results):
    """Achieved GFLOP/s, spread across rounds, losses, base RSS of the training loop."""
    lines = []
    flops = cfg.flops_per_train_char(cell)
    ours = results[(cell, cfg.name, "train", "charrnn", args.threads)]
    theirs = {t: results[(cell, cfg.name, "train", "torch", t)]
              for t in TORCH_THREADS if cell in PEERS}
    gflops = ", ".join(
        [f"charrnn {median_of(ours, 'chars_per_s') * flops / 1e9:.1f} ({args.threads}t)"] +
        [f"PyTorch {median_of(runs, 'chars_per_s') * flops / 1e9:.1f} ({t}t)"
         for t, runs in theirs.items()])
    lines.append(f"- {cell} {cfg.name}: {flops / 1e6:.2f} MFLOP per training char; "
                 f"training GFLOP/s {gflops}")
    spreads = ", ".join([f"charrnn +-{spread(ours, 'chars_per_s'):.1%}"] +
                        [f"PyTorch {t}t +-{spread(runs, 'chars_per_s'):.1%}"
                         for t, runs in theirs.items()])
    line = (f"  training chars/s spread across rounds (half range): {spreads}; "
            f"loss after the timed steps charrnn {median_of(ours, 'loss'):.3f}")
    if theirs:
        line += f", PyTorch {median_of(theirs[TORCH_THREADS[0]], 'loss'):.3f}"
    line += (f"; RSS after imports and data, before training: charrnn "
             f"{median_of(ours, 'rss_before_mb'):.0f} MB")
    if theirs:
        line += (f", PyTorch "
                 f"{median_of(theirs[TORCH_THREADS[0]], 'rss_before_mb'):.0f} MB")
    lines.append(line)
    return lines


def command_note(args, cell, cfg, results):
    """The whole commands' final validation losses (did both do the same job?), wall
    times, and what each adds to its training loop's peak (validation, checkpoints,
    the corpus), when the train task ran too."""
    ours = results[(cell, cfg.name, "command", "charrnn", args.threads)]
    steps, every = ours[0]["steps"], ours[0]["eval_every"]
    n_val = round(CORPUS.stat().st_size * VAL_FRAC)  # ASCII: bytes are characters
    losses = [f"charrnn {median_of(ours, 'val_loss'):.3f}"]
    times = [f"charrnn {median_of(ours, 'seconds'):.1f} s"]
    added = []
    if (cell, cfg.name, "train", "charrnn", args.threads) in results:
        loop = median_of(results[(cell, cfg.name, "train", "charrnn", args.threads)],
                         "peak_rss_mb")
        added.append(f"charrnn {median_of(ours, 'peak_rss_mb') - loop:+.0f} MB")
    if cell in PEERS:  # at the thread count of the table's row: the lower peak
        theirs = {t: results[(cell, cfg.name, "command", "torch", t)] for t in TORCH_THREADS}
        t = min(theirs, key=lambda t: median_of(theirs[t], "peak_rss_mb"))
        losses.append(f"PyTorch {median_of(theirs[t], 'val_loss'):.3f} ({t}t)")
        times.append(f"PyTorch {median_of(theirs[t], 'seconds'):.1f} s ({t}t)")
        if (cell, cfg.name, "train", "torch", t) in results:
            loop = median_of(results[(cell, cfg.name, "train", "torch", t)], "peak_rss_mb")
            added.append(f"PyTorch {median_of(theirs[t], 'peak_rss_mb') - loop:+.0f} MB ({t}t)")
    line = (f"- {cell} {cfg.name} whole command: {steps} steps, validation over {n_val:,} "
            f"chars and checkpoints every {every} ({ours[0]['validations']} runs); final "
            f"validation loss {', '.join(losses)}; wall time {', '.join(times)}")
    if added:
        line += (f"; whole command minus training loop (peak RSS medians): "
                 f"{', '.join(added)}")
    return line


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every measurement")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated, of {', '.join(CONFIGS)}")
    parser.add_argument("--cell", default="lstm",
                        help=f"comma-separated cells, of {', '.join(CELLS)}; 'all' = every one")
    parser.add_argument("--threads", type=int, default=2, help="charrnn training threads")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help=f"comma-separated subset of {','.join(TASKS)}")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="target duration of each timed training run")
    parser.add_argument("--min-steps", type=int, default=3, help="fewest timed training steps")
    parser.add_argument("--sample-length", type=int, default=2000)
    parser.add_argument("--beam-length", type=int, default=200)
    parser.add_argument("--peak-size", type=int, default=2048, help="matmul size for the peak")
    parser.add_argument("--peak-repeats", type=int, default=7)
    parser.add_argument("--precisions", default="float32,bfloat16,int8",
                        help="charrnn's generation runs once per precision of its weights "
                             "(comma-separated, of float32, bfloat16, int8)")
    parser.add_argument("--command-steps", type=int, default=0,
                        help="training steps of the whole-command runs (validation every "
                             "third of them); default 15 (60 at 2x128)")
    parser.add_argument("--json", metavar="PATH", help="also write every raw result here")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 round, 2x128, tiny step counts")
    # internal: one measurement in a fresh process
    parser.add_argument("--worker", choices=("peak",) + TASKS,
                        help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.precisions = [p for p in args.precisions.split(",") if p]
    if not args.precisions or not set(args.precisions) <= {"float32", "bfloat16", "int8"}:
        parser.error("--precisions takes a comma-separated subset of float32,bfloat16,int8")
    if args.quick and not args.worker:
        args.rounds, args.configs, args.seconds, args.min_steps = 1, "2x128", 0.2, 2
        args.sample_length, args.beam_length = 200, 20
        args.peak_size, args.peak_repeats = 512, 3
    return args


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    unknown = [name for name in args.configs.split(",") if name not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    names = [name for name in args.cell.split(",") if name]
    if "all" in names:
        names = [n for name in names for n in (CELLS if name == "all" else (name,))]
    cells = list(dict.fromkeys(names))  # in the order given, once each
    unknown = [name for name in cells if name not in CELLS]
    if unknown or not cells:
        sys.exit(f"unknown cell {', '.join(unknown)}; choose from {', '.join(CELLS)} or all")
    if args.rounds < 1 or args.threads < 1:
        sys.exit("--rounds and --threads must be at least 1")
    if util.find_spec("torch") is None:
        sys.exit(TORCH_MISSING)
    if not CORPUS.is_file():
        sys.exit(f"{CORPUS}: corpus not found")
    configs = [CONFIGS[name] for name in args.configs.split(",")]
    if not set(args.tasks.split(",")) <= set(TASKS):
        sys.exit(f"--tasks takes a comma-separated subset of {','.join(TASKS)}")
    if args.command_steps < 0:
        sys.exit("--command-steps must be at least 1 (0: by configuration)")

    print("# charrnn vs PyTorch\n")
    print(f"- command: `{shlex.join([Path(sys.executable).name] + sys.argv)}`")
    print(f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {machine()}; Python {platform.python_version()}")
    print(f"- numpy {version('numpy')}, numba {version('numba')}, torch {version('torch')}")
    print(f"- cells: " + ", ".join(f"{c} (PyTorch nn.{PEERS[c]})" if c in PEERS
                                   else f"{c} (no PyTorch peer)" for c in cells))
    print(f"- {args.rounds} round(s), medians; charrnn trains, samples and beam-searches with "
          f"{args.threads} threads (Numba's, BLAS single-threaded inside them); PyTorch: "
          f"better of {' and '.join(map(str, TORCH_THREADS))} threads")
    print(f"- corpus {CORPUS.name}, vocabulary {VOCAB_SIZE}; training: Adam lr {LR}, "
          f"clip {CLIP}; timed training runs of ~{args.seconds:g} s (at least "
          f"{args.min_steps} steps) after 2 warm-up steps", flush=True)
    if "command" in args.tasks.split(","):
        schedules = ", ".join(f"{cfg.name} {n} steps, every {e}" for cfg in configs
                              for n, e in [command_schedule(cfg, args.command_steps)])
        print(f"- whole command: `python -m charrnn train CORPUS --val-frac {VAL_FRAC} ... "
              f"--max-steps N --eval-every E --json` against bench/{TORCH_COMMAND.name} "
              f"(the same job in PyTorch), validation and checkpoints every E steps "
              f"({schedules})", flush=True)

    cache_dir = warm_cache(args, cells)
    try:
        results = run_rounds(args, cells, configs)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    # The machine's speed drifts (shared host): the peak is measured in every
    # round and the best round counts, which makes the fractions conservative.
    peaks = {t: max(results[("peak", "peak", "peak", "numpy", t)], key=lambda r: r["gflops"])
             for t in peak_threads(args)}
    print("- float32 matmul peak (NumPy, {0}x{0}, median of {1} products, best of {2} rounds): "
          "{3}".format(args.peak_size, args.peak_repeats, args.rounds, ", ".join(
              f"{p['gflops']:.1f} GFLOP/s with {t} thread{'s' * (t > 1)} (rounds: " +
              ", ".join(f"{r['gflops']:.0f}"
                        for r in results[("peak", "peak", "peak", "numpy", t)]) + ")"
              for t, p in peaks.items())), flush=True)
    print()
    print("\n".join(table(args, cells, configs, results, peaks)))
    print()
    if "gru" in cells:
        print(GRU_NOTE + ".\n")
    if any(c not in PEERS for c in cells):
        print("MUT cells have no PyTorch peer: charrnn's figures only ('-'), to be read "
              "beside the GRU's.\n")
    formulas = "; ".join(f"{'/'.join(c for c in cells if FLOP_FORMULAS[c] == f)}: 3 x ({f})"
                         for f in dict.fromkeys(FLOP_FORMULAS[c] for c in cells))
    print("Medians over rounds.  Training GFLOP/s / matmul peak: achieved training FLOP rate "
          "over the NumPy float32 matmul peak at the same thread count; FLOPs per char "
          f"(charrnn's products, the same count for PyTorch): {formulas}.  Peak RSS training "
          "is the whole worker process (interpreter, libraries, data, training loop); peak "
          "RSS whole command is the training command's process alone (ru_maxrss from "
          "os.wait4): corpus, training, validation runs, checkpoints.")
    print("\n".join(notes(args, cells, configs, results, peaks)))
    print(f"\nTotal time {time.perf_counter() - STARTED:.0f} s.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peaks": peaks, "results": [
                {"cell": cell, "config": c, "task": task, "impl": impl, "threads": t,
                 "runs": runs}
                for (cell, c, task, impl, t), runs in results.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
