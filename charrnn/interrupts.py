"""Ctrl-C and SIGTERM held back to a safe point: a training step or a write to a
sweep's study is never cut in half.

Inside ``with DeferredSignals() as signals:`` the signals are only noted;
the code looks at ``signals.received`` where stopping is safe (a trainer
after its step, a sweep between events), saves, and stops.  On the way out
the handlers from before are back.

Python installs signal handlers only from the main thread.  Called from any
other (a library call on a Dask worker's thread), this installs nothing and
never reports a signal: the process's signals stay with whoever owns them.
"""

import signal
import threading

DEFERRED = (signal.SIGINT, signal.SIGTERM)


class DeferredSignals:
    """A context that notes SIGINT and SIGTERM instead of acting on them."""

    def __init__(self):
        self.received = []  # signal numbers, in the order they arrived
        self._previous = {}  # signal number -> the handler before

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._note) for sig in DEFERRED}
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            # None: the handler before was not Python's (set in C), and cannot be
            # put back; the default is the nearest to it
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def _note(self, signum, frame):
        self.received.append(signum)

    @property
    def first(self):
        """The first signal received (a signal.Signals), or None."""
        return signal.Signals(self.received[0]) if self.received else None
