"""Files that other processes may read at any moment: atomic replacement, the
user's permissions, and the lock that keeps one training process per run.

Atomic writes: the data goes to a temporary ``.charrnn-tmp-<pid>-*`` file in
the target directory, is fsynced and renamed over the target, then the
directory is fsynced: a reader or a crash sees the old file or the new one,
never a torn one.  The temporary file starts private (mkstemp makes it 0600)
and is given the permissions the user's umask gives a new file before it is
renamed, so a group that shares a run directory can read it.  A temporary
file left by a killed process is removed by the next training run there.

The run lock is an ``fcntl.flock`` on ``.lock`` in the run directory, which
the kernel releases when the process dies however it dies, so a lock left by
a killed process is stale by construction and is simply taken over.  The file
also says who holds it (pid, host, command, start time) for the refusal
message and for ``charrnn runs``; readers look at those contents and never
take the lock themselves, so they cannot make a starting run fail.
"""

import datetime
import fcntl
import glob
import json
import math
import os
import re
import socket
import sys
import tempfile
import time


TMP_PREFIX = ".charrnn-tmp-"
LOCK_NAME = ".lock"
STARTING_SECONDS = 10  # a lock file still empty after this was left by a killed process


def json_safe(obj):
    """``obj`` for JSON, which has no infinities or NaN: None for them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


# A character UTF-8 cannot write: a lone surrogate, which a vocabulary holds
# when its corpus was read with --encoding unicode_escape ("\ud800" in it).
SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text):
    """``text`` with each lone surrogate as its escape \\udXXXX, so that it can
    be written as UTF-8; in JSON text the escape is the same character again."""
    return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def umask():
    """The process's umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no other way to read it; set it straight back
    os.umask(mask)
    return mask


def write_atomically(path, write):
    """Call write(file) for the contents of ``path``, replacing it atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(directory):
    """Delete the temporary files of killed charrnn processes in ``directory``
    (called under its run lock)."""
    # copies of a piped corpus that charrnn 1.1 made here and left when killed
    # (now unlinked at creation); only a training run, holding the lock, made them
    for path in glob.glob(os.path.join(glob.escape(directory), ".charrnn-pipe-*")):
        try:
            os.unlink(path)
        except OSError:
            pass
    for path in glob.glob(os.path.join(glob.escape(directory), TMP_PREFIX + "*")):
        pid = os.path.basename(path)[len(TMP_PREFIX) :].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and alive(int(pid)):
            continue  # another live process is writing it
        try:
            os.unlink(path)
        except OSError:
            pass


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """The exclusive lock of a run directory, held while a process trains into it."""

    def __init__(self, directory, fd, previous_holder, name=LOCK_NAME):
        self.directory, self._fd, self.name = directory, fd, name
        self.previous_holder = previous_holder  # of a lock a killed process left, or None

    def release(self):
        if self._fd is None:
            return
        try:  # unlinked while still held: whoever locks next checks it locked the live file
            os.unlink(os.path.join(self.directory, self.name))
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def try_lock(directory, name=LOCK_NAME):
    """A RunLock on ``directory`` (its lock file ``name``), or None when a live
    process holds it."""
    path = os.path.join(directory, name)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same_file = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)  # locked a file its holder unlinked on release: try the new one
    previous = _read_holder(fd)
    program = os.path.basename(sys.argv[0])
    if program in ("__main__.py", "-m", "-c", ""):
        program = "charrnn"  # python -m charrnn
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([program] + sys.argv[1:]),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)
    return RunLock(directory, fd, previous, name)


def holder(directory, name=LOCK_NAME):
    """Who holds the lock of ``directory`` as its file ``name`` says ({} when
    unknown), or None when no live process does: read without taking the lock."""
    path = os.path.join(directory, name)
    try:
        with open(path, "rb") as f:
            text = f.read()
        age = time.time() - os.stat(path).st_mtime
    except OSError:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        # being written just now by a starting process, or left by one killed
        # between creating the file and writing it
        return {} if age < STARTING_SECONDS else None
    if (
        info.get("host") == socket.gethostname()
        and isinstance(info.get("pid"), int)
        and not alive(info["pid"])
    ):
        return None  # left by a killed process
    return info


def describe(info):
    if not info:
        return "a process that is starting"
    where = f" on {info['host']}" if info.get("host") != socket.gethostname() else ""
    return f"pid {info.get('pid')}{where}, started {info.get('started')}: {info.get('command')}"


def _read_holder(fd):
    try:
        info = json.loads(os.pread(fd, 65536, 0) or b"null")
    except ValueError:
        return None
    return info if isinstance(info, dict) else None
