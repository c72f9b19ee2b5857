"""How a worker times and weighs its run, the same for both contenders; and
the machine's float32 matmul peak that training's FLOP rate is read against."""

import math
import resource
import statistics
import time

MIN_GENERATION_SECONDS = 1.0  # a fast generation run is repeated until it takes this long


def rss_now_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb():
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


def matmul_peak(size, repeats):
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
    return {
        "gflops": 2 * size**3 / statistics.median(times) / 1e9,
        "size": size,
        "repeats": repeats,
        "numpy": np.__version__,
    }
