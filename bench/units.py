"""The matrix units of this CPU, one core, on the shapes training multiplies:
float32 FMA tiles (kernels/tiles.py) against bfloat16 AMX tiles
(kernels/amx.py) and, where the CPU has AVX512_BF16, the same register tile
as the float32 one on the bfloat16 dot-product instruction (VDPBF16PS: two
products per float32 lane; written here, since charrnn does not use it),
each with its operands already packed, medians of alternated rounds.  What
bfloat16 training can gain from the products alone.

    python bench/units.py                 # the 2x512 LSTM's shapes
    python bench/units.py --rounds 5 --json bench/results/units.json
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from charrnn.kernels import amx, tiles  # noqa: E402
from dot_tile import HAS_DOT, dot_product  # noqa: E402
from provenance import stamp  # noqa: E402

# (name, M, K, N): B = 50 streams, T = 50 steps, H = 512, the LSTM's 4H gates
SHAPES = [
    ("recurrent forward  h @ W_h", 48, 512, 2048),  # 48 of B = 50: whole tiles of 12
    ("recurrent backward dg @ W_h.T", 48, 2048, 512),
    ("chunk input  x @ W_x", 2496, 512, 2048),
    ("weight grad  x.T @ dg", 512, 2500, 2048),
]


def contenders(m, k, n, rng):
    """{name: a call computing c = a @ w of the shape} with operands packed."""
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    c = np.zeros((m, n), np.float32)
    panels = tiles.panels_for(w, transposed=False)
    tiles.pack(w, panels, 0, n, False)
    found = {
        "float32 tiles": lambda: tiles.packed_product(
            a, panels, tiles.NO_SCALES, 0, n // tiles.NR, c, False
        )
    }
    if not (amx.AVAILABLE or HAS_DOT):
        return found
    # bfloat16 operands (the rounding and packing run without AMX too)
    a_bits = np.empty((m, amx.padded(k)), np.uint16)
    amx.to_bfloat16(a, a_bits, False, 0, m)
    pairs = np.empty(amx.panels_shape(k, n), np.uint32)
    amx.pack_pairs(w, pairs, False, 0, n // 16)
    if amx.AVAILABLE:
        found["bfloat16 AMX"] = lambda: amx.product(a_bits, pairs, c, 0, n // 16, False)
    if HAS_DOT and m % 12 == 0:
        a_pairs = a_bits.view(np.uint32)
        found["bfloat16 dot"] = lambda: dot_product(a_pairs, pairs, c)
    return found


def timed(call, seconds=0.2):
    """Seconds per call: the median of calls filling ``seconds``."""
    call()
    times, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds or len(times) < 3:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def table(report):
    """Markdown: GFLOP/s of each contender on each shape (spread across rounds), and
    bfloat16 against the float32 tiles."""
    lines = [
        "| product | M x K x N | float32 tiles, GFLOP/s | bfloat16 AMX, GFLOP/s "
        "| bfloat16 dot, GFLOP/s | AMX / float32 | dot / float32 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["results"]:
        figures = [
            f"{row[who]:.1f} (+{row[who + ' spread']:.0%})" if who in row else "-"
            for who in ("float32 tiles", "bfloat16 AMX", "bfloat16 dot")
        ]
        ratios = [
            f"{row[who] / row['float32 tiles']:.2f}" if who in row else "-"
            for who in ("bfloat16 AMX", "bfloat16 dot")
        ]
        lines.append(
            f"| {row['shape']} | {row['m']} x {row['k']} x {row['n']} | "
            + " | ".join(figures + ratios)
            + " |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    from numba import set_num_threads

    set_num_threads(1)
    rng = np.random.default_rng(0)
    report = {"environment": stamp(), "rounds": args.rounds, "results": []}
    print(f"{report['environment']['machine']}; one thread; AMX: {amx.AVAILABLE}", flush=True)
    for name, m, k, n in SHAPES:
        calls = contenders(m, k, n, rng)
        rates = {who: [] for who in calls}
        for _ in range(args.rounds):  # alternated
            for who, call in calls.items():
                rates[who].append(2 * m * k * n / timed(call) / 1e9)
        row = {"shape": name, "m": m, "k": k, "n": n}
        for who, r in rates.items():
            row[who] = statistics.median(r)
            row[who + " spread"] = max(r) / min(r) - 1
        report["results"].append(row)
        print(f"{name}: measured", flush=True)
    print(table(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
