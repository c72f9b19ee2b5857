"""Threads chosen from the load, numbers that do not depend on them
(kernels/threads.py, cpus.py)."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from charrnn import api
from charrnn.cpus import MIN_WINDOW, LoadMeter
from charrnn.kernels import threads as kernel_threads
from charrnn.kernels.threads import (
    SHARED_WORK_FROM,
    WORK_BLOCKS,
    Threads,
    choose_threads,
    default_threads,
    step_work,
)


def train_params(corpus, out, threads, batch_size):
    run = api.train(
        str(corpus),
        out=str(out),
        quiet=True,
        hidden=32,
        layers=2,
        batch_size=batch_size,
        seq_length=12,
        max_steps=4,
        eval_every=2,
        val_frac=0.1,
        seed=3,
        threads=threads,
    )
    return run.load().checkpoint


# 3 streams: the threads split the hidden units; 8: they split the streams
@pytest.mark.parametrize("batch_size", [3, 8])
def test_training_is_the_same_on_one_thread_and_two(corpus_file, tmp_path, batch_size):
    one = train_params(corpus_file, tmp_path / "one", 1, batch_size)
    two = train_params(corpus_file, tmp_path / "two", 2, batch_size)
    auto = train_params(corpus_file, tmp_path / "auto", None, batch_size)
    for other in (two, auto):
        assert np.array_equal(one.params, other.params)
        assert np.array_equal(one.state, other.state)
        assert np.array_equal(one.val_history, other.val_history)
    assert one.train_config["threads"] == 1 and auto.train_config["threads"] is None


def test_sampling_and_scoring_are_the_same_on_any_threads(trained, text):
    out, _ = trained
    model = api.load(str(out / "best.npz"))
    texts = {n: model.sample(200, seed=5, prime="Fir", threads=n) for n in (1, 2, None)}
    assert texts[1] == texts[2] == texts[None]
    beams = {n: model.beam(40, width=3, threads=n) for n in (1, 2)}
    assert beams[1] == beams[2]
    losses = {n: model.loss(text[:500], threads=n) for n in (1, 2, None)}
    assert losses[1] == losses[2] == losses[None]


def burn(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_own_work_is_not_load():
    meter = LoadMeter()
    background = meter.others(min_window=0.6)  # what else runs here, idle as we wait
    burn(0.6)  # a CPU's worth of this process's own time
    assert meter.others() < background + 0.5


def test_other_programs_are_load():
    competitors = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(default_threads())
    ]
    try:
        time.sleep(0.3)  # started
        meter = LoadMeter()
        assert meter.others(min_window=0.6) > 0.8  # at least a CPU, whatever else runs here
        assert meter.free_threads() == 1
    finally:
        for competitor in competitors:
            competitor.kill()
            competitor.wait()


def test_a_long_job_chooses_again_only_when_its_threads_were_not_given(monkeypatch):
    import charrnn.kernels.threads as threads

    chosen = []
    monkeypatch.setattr(threads, "choose_threads", lambda n, work: chosen.append(n) or n or 1)
    monkeypatch.setattr(threads, "RECHOOSE_SECONDS", 0.0)
    given, auto = Threads(2), Threads(None)
    for _ in range(3):
        assert given.update() == auto.update() == WORK_BLOCKS
    assert chosen.count(2) == 1 and chosen.count(None) == 3


def test_a_step_too_small_to_share_runs_on_one_thread(monkeypatch):
    """One stream of a small model: one thread, however free the CPUs; given
    threads are kept; a batch of the same model is shared out by the load."""
    monkeypatch.setattr(kernel_threads.METER, "free_threads", lambda most: most)
    monkeypatch.setattr(kernel_threads, "default_threads", lambda: 2)
    small = step_work(37_505, 1, 1)  # a 1x64 LSTM on 65 characters, one stream
    assert small == 37_505 < SHARED_WORK_FROM
    assert choose_threads(None, small) == 1
    assert choose_threads(2, small) == 2
    assert choose_threads(None, step_work(37_505, 1, 50)) == 2
    assert choose_threads(None, step_work(239_297, 2, 1)) == 2  # 2x128: 119,648 a layer
    assert choose_threads(None) == 2  # work unknown: the load decides


def test_a_script_asking_in_a_loop_does_not_wait():
    meter = LoadMeter()
    meter.free_threads()  # the first answer waits for a window of MIN_WINDOW
    started = time.perf_counter()
    for _ in range(20):
        meter.free_threads()
    assert time.perf_counter() - started < MIN_WINDOW


def test_every_command_that_computes_takes_threads(trained, corpus_file):
    """sample, eval and viz (train: above) take --threads, reject 0, and their
    output is the same on one thread and two."""
    from click.testing import CliRunner

    from charrnn.cli import main

    out, _ = trained
    best = str(out / "best.npz")
    commands = {
        "sample": ["sample", best, "--length", "300", "--seed", "2", "--json"],
        "beam": ["sample", best, "--length", "40", "--beam", "3", "--seed", "2", "--json"],
        "eval": ["eval", best, str(corpus_file), "--json"],
        "viz": ["viz", best, str(corpus_file), "--find", "--json", "--scan", "3000"],
    }
    for name, args in commands.items():
        outputs = []
        for threads in ("1", "2"):
            result = CliRunner().invoke(main, args + ["--threads", threads])
            assert result.exit_code == 0, (name, result.output)
            reported = json.loads(result.stdout)
            reported.pop("chars_per_second", None)  # eval's speed may differ; nothing else
            outputs.append(reported)
        assert outputs[0] == outputs[1], name
        refused = CliRunner().invoke(main, args + ["--threads", "0"])
        assert refused.exit_code == 2 and "--threads" in refused.output
