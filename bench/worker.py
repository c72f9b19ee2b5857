"""One measurement in a fresh process, started by bench/measure.py: prints
one JSON line, the result (or {"error": ...} for the parent to report).

    python bench/worker.py JOB

JOB is a JSON object: task (of settings.TASKS, or "peak": the matmul peak),
impl ("charrnn", "charrnn:bfloat16", "charrnn:int8": charrnn_side; "torch",
"torch:autocast": torch_side), cell, config ("LxH"), threads, and options
(settings.Options).  The parent sets the thread
variables of BLAS and OpenMP to ``threads``.
"""

import json
import os
import sys

import whole_command
from settings import Options, parse_config
from timing import matmul_peak


def measure_job(job, options):
    """The result of one job, as a dict."""
    task, impl = job["task"], job["impl"]
    if task == "peak":
        return matmul_peak(options.peak_size, options.peak_repeats)
    cfg, cell, threads = parse_config(job["config"]), job["cell"], job["threads"]
    if task == "command":
        return whole_command.measure(cfg, cell, threads, options, impl)
    # Imported here: a worker loads only its own contender's libraries.
    if impl.startswith("charrnn"):
        import charrnn_side as side
    else:
        import torch_side as side
    return side.MEASURES[task](cfg, cell, threads, options, impl)


def main():
    job = json.loads(sys.argv[1])
    result = measure_job(job, Options.from_json(job["options"]))
    result.update(
        task=job["task"],
        impl=job["impl"],
        cell=job["cell"],
        config=job["config"],
        threads=job["threads"],
        env_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
