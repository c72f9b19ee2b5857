"""Ctrl-C, SIGTERM and SIGHUP held back to a safe point: a training step or a
write to a sweep's study is never cut in half.

Inside ``with DeferredSignals() as signals:`` the signals are only noted;
the code looks at ``signals.received`` where stopping is safe (a trainer
after its step, a sweep between events), saves, and stops.  On the way out
the handlers from before are back.

SIGHUP is what a closed terminal or SSH session sends: the process saves as
for SIGTERM, and since writing to that terminal now fails (EIO), its
standard output and error are pointed at /dev/null where they were the
terminal.  Under ``nohup`` (SIGHUP ignored) it stays ignored.

Python installs signal handlers only from the main thread.  Called from any
other (a library call on a Dask worker's thread), this installs nothing and
never reports a signal: the process's signals stay with whoever owns them.
"""

import os
import signal
import stat
import threading

DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class DeferredSignals:
    """A context that notes SIGINT, SIGTERM and SIGHUP instead of acting on them."""

    def __init__(self):
        self.received = []  # signal numbers, in the order they arrived
        self._previous = {}  # signal number -> the handler before

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {
                sig: signal.signal(sig, self._note)
                for sig in DEFERRED
                if not (sig == signal.SIGHUP and signal.getsignal(sig) is signal.SIG_IGN)
            }
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            # None: the handler before was not Python's (set in C), and cannot be
            # put back; the default is the nearest to it
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def _note(self, signum, frame):
        self.received.append(signum)
        if signum == signal.SIGHUP:
            leave_terminal()

    @property
    def first(self):
        """The first signal received (a signal.Signals), or None."""
        return signal.Signals(self.received[0]) if self.received else None


def leave_terminal():
    """Point standard output and error at /dev/null where they are a terminal
    that hung up (a character device that is no longer a working terminal):
    the messages that report the save would fail there (EIO)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            try:
                hung_up = stat.S_ISCHR(os.fstat(fd).st_mode) and not os.isatty(fd)
            except OSError:  # closed
                continue
            if hung_up:
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)
