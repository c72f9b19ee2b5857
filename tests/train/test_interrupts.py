"""DeferredSignals: Ctrl-C, SIGTERM and SIGHUP noted, not acted on, in the
main thread; nothing installed (and nothing reported) from any other thread;
the handlers from before put back; SIGHUP left ignored under nohup."""

import signal
import threading

import pytest

from charrnn.interrupts import DeferredSignals
from charrnn.train import TrainConfig, train


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_is_noted_not_raised(sig):
    with DeferredSignals() as signals:
        assert signals.first is None and not signals.received
        signal.raise_signal(sig)  # without the context: KeyboardInterrupt, or the end
        assert signals.received == [sig] and signals.first is sig


def test_a_hang_up_is_noted_like_sigterm():
    seen = []  # without the context, SIGHUP's default would end the test process
    before = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        with DeferredSignals() as signals:
            signal.raise_signal(signal.SIGHUP)
        assert signals.first is signal.SIGHUP and seen == []
        assert signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_hang_up_stays_ignored_under_nohup():
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with DeferredSignals() as signals:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)
        assert signals.received == [] and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_signals_are_kept_in_order():
    with DeferredSignals() as signals:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert signals.received == [signal.SIGTERM, signal.SIGINT]
    assert signals.first is signal.SIGTERM


def test_the_handlers_from_before_are_put_back():
    seen = []
    int_before = signal.getsignal(signal.SIGINT)  # ignored, in a shell's background job
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with DeferredSignals():
            signal.raise_signal(signal.SIGTERM)
        assert seen == []
        signal.raise_signal(signal.SIGTERM)
        assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) is int_before
    finally:
        signal.signal(signal.SIGTERM, before)


def test_an_error_inside_puts_the_handlers_back():
    with pytest.raises(ValueError):
        with DeferredSignals():
            raise ValueError("a failed step")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def in_a_thread(work):
    """What ``work()`` returns (or raises) when called on a thread that is not main."""
    outcome = {}

    def target():
        try:
            outcome["value"] = work()
        except BaseException as e:  # noqa: BLE001 -- handed to the test's thread
            outcome["error"] = e

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_off_the_main_thread_nothing_is_installed_or_reported():
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def enter():
        with DeferredSignals() as signals:  # signal.signal would raise ValueError here
            installed = {sig: signal.getsignal(sig) for sig in handlers}
        return signals, installed

    signals, installed = in_a_thread(enter)
    assert installed == handlers and signals.received == [] and signals.first is None


def test_train_runs_on_a_thread_that_is_not_main(tmp_path, corpus_file):
    """A library call on a Dask worker's thread: no signal handler is needed."""
    events = []
    cfg = TrainConfig(
        hidden=16,
        layers=1,
        batch_size=4,
        seq_length=16,
        max_steps=4,
        eval_every=2,
        val_frac=0.1,
        threads=1,
    )
    ckpt = in_a_thread(
        lambda: train(
            str(corpus_file),
            cfg,
            str(tmp_path),
            quiet=True,
            log=lambda message: None,
            on_event=events.append,
        )
    )
    assert ckpt.step == 4 and (tmp_path / "last.npz").is_file()
    assert [e["event"] for e in events] == ["validation", "validation", "end"]
    assert events[-1]["stopped"] == "steps"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
