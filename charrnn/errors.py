import signal


class CharrnnError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


class Conflict(CharrnnError):
    """Options that exclude each other, or one that has no effect given another;
    the command line shows it as a usage error (exit code 2), naming both."""


class Interrupted(Exception):
    """Training stopped by a signal after saving; the exit code is 128 + its number."""

    def __init__(self, signum, message):
        super().__init__(f"{signal.Signals(signum).name}: {message}")
        self.signum = signum
