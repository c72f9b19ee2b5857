"""Where a training step's time goes: each phase's share, its FLOPs and its
rate against the machine's float32 matmul peak.

Wraps the kernels that model.loss_and_grad and the optimizer call from
Python (the cells' recurrences, the GEMMs of the inputs, decoder and weight
gradients, the softmax, clipping and Adam) with timers, runs timed steps of
a real training loop on tinyshakespeare (--corpus), and prints a table per
configuration.  The matmul peak is NumPy's float32 GEMM on the same threads.

    python bench/phases.py                  # 2x512 and 3x256, 2 threads
    python bench/phases.py --configs 2x512 --steps 40
"""

import argparse
import collections
import functools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from settings import DEFAULT_CORPUS, load_ids, missing_corpus, parse_config  # noqa: E402
from timing import matmul_peak  # noqa: E402

from charrnn import optim  # noqa: E402
from charrnn.cells import lstm, recurrence  # noqa: E402
from charrnn.data.batches import StreamBatcher  # noqa: E402
from charrnn.kernels.buffers import Workspace  # noqa: E402
from charrnn.kernels.threads import use_threads  # noqa: E402
import charrnn.model as model  # noqa: E402

seconds = collections.defaultdict(float)
current = []  # the phase being timed, so that nested wrappers count once


def timed(module, name, phase):
    """Replace module.name by a wrapper adding its time to ``phase``."""
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        if current:
            return original(*args, **kwargs)
        current.append(phase)
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[phase] += time.perf_counter() - started
            current.pop()

    setattr(module, name, wrapper)


def instrument():
    timed(lstm, "input_product", "input product x @ W_x (GEMM)")
    timed(recurrence, "run_forward", "forward recurrence h @ W_h + gates")
    timed(model, "split_gemm", "decoder forward (GEMM)")
    timed(model, "softmax_cross_entropy", "softmax cross-entropy")
    timed(model, "split_gemm_two", "decoder backward (2 GEMMs)")
    timed(recurrence, "run_backward", "backward recurrence")
    timed(recurrence, "run_replay", "replay of cells/hiddens")
    timed(lstm, "input_gradients", "weight gradients + dx (GEMMs)")
    timed(optim, "clip_scale", "gradient norm")
    timed(optim, "update", "Adam update")


def phase_flops(cfg, V):
    """FLOPs per step of each matmul phase (2 per multiply-add)."""
    H, L, N = cfg.hidden, cfg.layers, cfg.batch * cfg.seq
    gemm = 2 * N * H * 4 * H  # one (N, H) @ (H, 4H)
    return {
        "input product x @ W_x (GEMM)": (L - 1) * gemm,
        "forward recurrence h @ W_h + gates": L * gemm,
        "decoder forward (GEMM)": 2 * N * H * V,
        "decoder backward (2 GEMMs)": 2 * 2 * N * H * V,
        "backward recurrence": L * gemm,
        # dW_h for every layer, dW_x and dx above layer 0
        "weight gradients + dx (GEMMs)": L * gemm + 2 * (L - 1) * gemm,
    }


def profile(cfg, threads, steps, peak, corpus):
    chars, ids = load_ids(corpus)
    V = len(chars)
    m = model.ModelConfig(vocab_size=V, hidden=cfg.hidden, layers=cfg.layers)
    params = model.init_params(m, np.random.default_rng(0))
    grads = np.zeros_like(params)
    state = optim.init_state("adam", params.size)
    batches = StreamBatcher(ids, cfg.batch, cfg.seq)
    blocks = use_threads(threads)
    carried = model.zero_state(m, cfg.batch)
    workspace = Workspace()

    def step(k):
        nonlocal carried
        inputs, targets = batches[k]
        _, carried = model.loss_and_grad(
            params, m, inputs, targets, carried, None, grads, blocks, workspace
        )
        _, scale = optim.clip_scale(grads, 5.0)
        optim.update("adam", params, grads, state, 2e-3, k + 1, scale)

    for k in range(3):
        step(k)
    seconds.clear()
    times = []
    for k in range(3, 3 + steps):
        started = time.perf_counter()
        step(k)
        times.append(time.perf_counter() - started)
    total = sum(times)
    flops = phase_flops(cfg, V)
    all_flops = sum(flops.values())
    print(
        f"\n{cfg.name} (B{cfg.batch} T{cfg.seq}), {threads} threads, {steps} steps: "
        f"median step {statistics.median(times) * 1e3:.1f} ms, "
        f"{cfg.batch * cfg.seq * steps / total:,.0f} chars/s, "
        f"{all_flops * steps / total / 1e9:.1f} GFLOP/s = "
        f"{all_flops * steps / total / 1e9 / peak:.3f} of the matmul peak ({peak:.1f})\n"
    )
    print("| phase | share of the step | ms per step | GFLOP/s | of the peak |")
    print("|---|---:|---:|---:|---:|")
    accounted = 0.0
    for phase, spent in sorted(seconds.items(), key=lambda kv: -kv[1]):
        accounted += spent
        rate = flops.get(phase, 0) * steps / spent / 1e9 if flops.get(phase) else None
        print(
            f"| {phase} | {spent / total:.1%} | {spent / steps * 1e3:.2f} | "
            + (f"{rate:.1f} | {rate / peak:.2f} |" if rate else "- | - |")
        )
    print(
        f"| the rest (Python, batching, small kernels) | {1 - accounted / total:.1%} | "
        f"{(total - accounted) / steps * 1e3:.2f} | - | - |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="2x512,3x256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    args = parser.parse_args()
    if not Path(args.corpus).is_file():
        sys.exit(missing_corpus(args.corpus))
    instrument()
    peak = max(matmul_peak(2048, 7)["gflops"] for _ in range(3))
    for name in args.configs.split(","):
        profile(parse_config(name), args.threads, args.steps, peak, args.corpus)


if __name__ == "__main__":
    main()
