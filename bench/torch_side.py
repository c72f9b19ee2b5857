"""PyTorch's side of the comparison: the torch.nn module that plays each
charrnn cell that has one, and its training, sampling and beam search timed
in the worker process.  PyTorch is only a benchmark dependency:
pip install torch==2.13.0.

Training runs in two modes (TRAIN_IMPLS): "torch", float32 throughout, and
"torch:autocast", PyTorch's mixed precision on the CPU: the forward and the
loss inside torch.autocast("cpu", dtype=torch.bfloat16) (the ops on
autocast's lower-precision list, matrix products among them, read bfloat16),
backward and the optimizer step outside, the weights float32.  Generation is
float32 only.
"""

import contextlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from settings import BEAM_WIDTH, CLIP, LR, TEMPERATURE, load_ids, stream_batch
from timing import peak_rss_mb, rss_now_mb, timed_generation, timed_steps

TORCH_MISSING = (
    "PyTorch is not installed; it is needed only for this benchmark: pip install torch==2.13.0"
)
TORCH_THREADS = (1, 2)  # each PyTorch figure is the better of these (torch.set_num_threads)
TRAIN_IMPLS = ("torch", "torch:autocast")  # float32; bfloat16 autocast (the module docstring)


@dataclass(frozen=True)
class Peer:
    """The torch.nn module that plays one of charrnn's cells."""

    module: str  # torch.nn.<module>(V, H, L, **options)
    options: dict = field(default_factory=dict)
    states: int = 1  # 2: the module's state is (h, c)
    note: str = ""  # how it differs from charrnn's cell


PEERS = {  # charrnn cell -> its peer; the other cells have none
    "lstm": Peer("LSTM", states=2),
    "gru": Peer(
        "GRU",
        note=(
            "PyTorch's GRU resets after the recurrent product (r * (W_hn h + b_hn)); "
            "charrnn's GRU is the lectures' (reset before W_hh, two dependent products "
            "per step)"
        ),
    ),
    "rnn": Peer("RNN", options={"nonlinearity": "tanh"}),
}


def import_torch(threads):
    """torch, with ``threads`` threads and seed 0; without it, one JSON error line
    (which the parent reports) and exit 3."""
    # The running script's directory (bench/) is on sys.path and holds other
    # scripts, whose names must not shadow the standard library's for torch:
    # a bench/profile.py would hide `profile`, which torch imports through cProfile.
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


def torch_model(torch, cell, hidden, layers, vocab):
    """PEERS[cell] over one-hot inputs, then the decoder."""
    peer = PEERS[cell]

    class TorchLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, peer.module)(vocab, hidden, layers, **peer.options)
            self.dec = torch.nn.Linear(hidden, vocab)

        def encode(self, x):  # x (T, B) int64
            return torch.nn.functional.one_hot(x, vocab).float()

        def forward(self, x, state):
            out, state = self.rnn(self.encode(x), state)
            return self.dec(out), state

    return TorchLM()


def zero_state(torch, cell, layers, batch, hidden):
    """The state as PEERS[cell] takes it: h, or (h, c), each (L, B, H)."""
    state = tuple(torch.zeros(layers, batch, hidden) for _ in range(PEERS[cell].states))
    return state if len(state) > 1 else state[0]


def map_state(state, fn):
    """fn applied to h (and c): the state as the module takes it."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def precision_context(torch, impl):
    """A fresh context for the forward and the loss of one training step: autocast
    to bfloat16 for "torch:autocast", nothing for "torch"."""
    if impl == "torch:autocast":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if impl == "torch":
        return contextlib.nullcontext()
    raise ValueError(f"PyTorch trains as one of {', '.join(TRAIN_IMPLS)}, not {impl!r}")


def dtypes_in(torch, model, impl, inputs, state):
    """The dtypes the recurrent module's output and the logits come out in, in the
    impl's context: which parts autocast ran in bfloat16 (after the timing)."""
    with torch.no_grad(), precision_context(torch, impl):
        logits, _ = model(inputs, state)
        out, _ = model.rnn(model.encode(inputs), state)
    return {
        "rnn_dtype": str(out.dtype).removeprefix("torch."),
        "logits_dtype": str(logits.dtype).removeprefix("torch."),
    }


def train(cfg, cell, threads, options, impl):
    torch = import_torch(threads)
    chars, ids = load_ids(options.corpus)
    V = len(chars)
    model = torch_model(torch, cell, cfg.hidden, cfg.layers, V)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    state = zero_state(torch, cell, cfg.layers, cfg.batch, cfg.hidden)
    count = 0
    baseline = rss_now_mb()

    def step():
        nonlocal state, count
        inputs, targets = (
            torch.from_numpy(a) for a in stream_batch(ids, cfg.batch, cfg.seq, count)
        )
        count += 1
        with precision_context(torch, impl):
            logits, state = model(inputs, state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        state = map_state(state, lambda s: s.detach())
        return loss.item()

    n, elapsed, loss = timed_steps(step, options.seconds, options.min_steps)
    inputs = torch.from_numpy(stream_batch(ids, cfg.batch, cfg.seq, count)[0])
    return {
        "steps": n,
        "seconds": elapsed,
        "chars_per_s": n * cfg.batch * cfg.seq / elapsed,
        "loss": loss,
        "rss_before_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "torch": torch.__version__,
        **dtypes_in(torch, model, impl, inputs, state),
    }


def sample(cfg, cell, threads, options, impl):
    torch = import_torch(threads)
    chars, _ = load_ids(options.corpus)
    model = torch_model(torch, cell, cfg.hidden, cfg.layers, len(chars)).eval()
    newline = chars.index("\n")

    def generate(n):
        out = []
        with torch.no_grad():
            logits, state = model(torch.tensor([[newline]]), None)
            for _ in range(n):
                probs = torch.softmax(logits[-1, 0] / TEMPERATURE, dim=-1)
                x = torch.multinomial(probs, 1)
                out.append(x.item())
                logits, state = model(x.view(1, 1), state)
        return "".join(chars[i] for i in out)

    return {**timed_generation(generate, options.sample_length, 50), "torch": torch.__version__}


def beam(cfg, cell, threads, options, impl):
    torch = import_torch(threads)
    chars, _ = load_ids(options.corpus)
    V, K = len(chars), BEAM_WIDTH
    model = torch_model(torch, cell, cfg.hidden, cfg.layers, V).eval()
    newline = chars.index("\n")

    def generate(n):
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

    return {**timed_generation(generate, options.beam_length, 10), "torch": torch.__version__}


MEASURES = {"train": train, "sample": sample, "beam": beam}
