"""The line on stderr before charrnn's kernels compile: without it, a command
on a cold compiled-code cache (kernels/cache.py: after an installation or an
upgrade, or for a new model type) sits silent for up to a minute.

Numba tells of every compile it starts (its "numba:compile" event; a kernel
loaded from the cache is no compile); jit.py passes the first of a process
on to ``compiling``, which says it once to whoever listens: the command
line's stderr (``tell``), or a training run's log, which --quiet silences
(``told_to``).  A library user who sets neither hears nothing.  Numba-free.
"""

import contextlib

# Seconds that the first compile of a command's kernels takes: the command's
# time on a cold cache (NUMBA_CACHE_DIR an empty directory) less its time on
# a warm one, a 2x128 LSTM, on the benchmarks' 2-core Xeon with AMX tiles
# (2026-12-04, idle): train at --precision auto, bfloat16 there (float32
# compiles in 36 s); sample without --beam (with it: 15 s); sweep: its
# trials', train's.
FIRST_COMPILE_SECONDS = {"train": 43, "sample": 14, "eval": 17, "viz": 17, "sweep": 43}

# Who hears of the next compile, with the figure to tell, and whether it has heard.
_listener = {"say": None, "seconds": None, "said": False}


def message(seconds):
    """The line that says the kernels compile, and how long it takes."""
    return (
        "compiling the kernels for this model type, once: the first compile after "
        f"installing took {seconds} s on a 2-core machine (later runs load them from the cache)"
    )


def tell(say, command):
    """From now on, ``say`` (a function of a line) hears of the first compile
    this process starts, with ``command``'s figure (FIRST_COMPILE_SECONDS);
    once: the compiles that follow it are part of the same wait."""
    _listener.update(say=say, seconds=FIRST_COMPILE_SECONDS.get(command), said=False)


@contextlib.contextmanager
def told_to(say, command):
    """``tell`` within the block; after it, who heard before."""
    before = dict(_listener)
    tell(say, command)
    try:
        yield
    finally:
        _listener.update(before, said=before["said"] or _listener["said"])


def compiling():
    """Numba starts to compile a kernel: say so, if not said yet."""
    if _listener["say"] is None or _listener["seconds"] is None or _listener["said"]:
        return
    _listener["said"] = True
    _listener["say"](message(_listener["seconds"]))
