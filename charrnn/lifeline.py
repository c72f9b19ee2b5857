"""A process that dies with its parent: the training processes of a sweep's
trials, so that a killed sweep or a killed Dask worker leaves none running.

The parent names itself in the environment (``CHARRNN_PARENT_PID``); the
child asks Linux to SIGKILL it when that parent's thread ends
(PR_SET_PDEATHSIG), and exits at once if the parent is already gone.
Elsewhere than Linux this is a no-op: the parent stops its children itself.
"""

import ctypes
import os
import signal
import sys

ENV = "CHARRNN_PARENT_PID"
PR_SET_PDEATHSIG = 1


def environment(env=None):
    """``env`` (default: this process's) for a child that must die with this process."""
    return {**(os.environ if env is None else env), ENV: str(os.getpid())}


def follow_parent():
    """Called first thing in a child started with ``environment()``."""
    parent = os.environ.pop(ENV, None)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:  # it died before the request took effect
        os._exit(1)
