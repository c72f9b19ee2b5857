"""Numba's on-disk cache, in a directory keyed by the package's sources.

Numba checks a cached kernel against its own source file only, not against
the files of the kernels it calls and compiles into itself: after an edit to
tiles.py, a caller in cells/ would keep running the old tiles code.  So the
whole cache lives in ``<base>/charrnn-<key>``, the key a hash of every .py
file of the package (paths and contents) and the Numba and Python versions:
any edit starts a fresh directory, and unused old ones are deleted.

``<base>`` is $NUMBA_CACHE_DIR if the user set it, else
$XDG_CACHE_HOME/charrnn/numba (~/.cache/charrnn/numba); if that is not
writable, $TMPDIR/charrnn-numba-<uid>; if nothing is, there is no cache
directory.  Nothing is ever written next to the sources.

The choice is also exported as NUMBA_CACHE_DIR, since Numba re-reads it
whenever a NUMBA_* variable changes, and CHARRNN_NUMBA_CACHE_BASE records
the base, so that a child process (sweep trials, tests) sees the inherited
NUMBA_CACHE_DIR as ours: it takes the same base, not a directory inside it.
"""

import fcntl
import hashlib
import itertools
import os
import shutil
import stat
import sys
import tempfile
import time

import numba
from numba.core import config
from numba.core.caching import IndexDataCacheFile

BASE_VAR = "CHARRNN_NUMBA_CACHE_BASE"
STAMP = ".used"  # touched at every configure(): when the directory was last used
MAX_AGE = 7 * 24 * 3600  # unused for longer than this, other keys' directories are deleted,
KEEP = 3  # except the most recently used ones (versions used alternately)
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The sources of compiled code: the modules that define kernels and all they
# import.  The commands, file handling and data pipeline are left out, so
# that editing them (or an upgrade that changes only them) keeps the cache;
# tests/kernels/test_cache.py checks that every module with a kernel is in here.
COMPILED_SOURCES = ("kernels/", "cells/", "model.py", "loss.py", "optim.py", "decode.py")


def compiled_sources():
    """Paths (relative, with /) of the package's .py files that compiled code comes from."""
    sources = []
    for root, dirs, names in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        rel = os.path.relpath(root, PACKAGE).split(os.sep)
        rel = [] if rel == ["."] else rel
        sources += ["/".join(rel + [n]) for n in names if n.endswith(".py")]
    return sorted(s for s in sources if s.startswith(COMPILED_SOURCES))


def key():
    """16 hex digits of SHA-256 over the sources of compiled code, Numba's and
    Python's versions, and a forced tile shape (CHARRNN_TILES, tiles.py: it
    changes the code compiled from the same sources)."""
    h = hashlib.sha256(
        f"numba {numba.__version__}\0python {sys.version}\0"
        f"tiles {os.environ.get('CHARRNN_TILES', '')}\0".encode()
    )
    for rel in compiled_sources():
        with open(os.path.join(PACKAGE, *rel.split("/")), "rb") as f:
            data = f.read()
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:16]


def _bases():
    """Candidate base directories, best first, each with whether it is the
    shared temporary directory's."""
    numba_dir = os.environ.get("NUMBA_CACHE_DIR", "")
    inherited = os.environ.get(BASE_VAR, "")
    if (
        numba_dir
        and inherited
        and os.path.dirname(numba_dir) == inherited
        and os.path.basename(numba_dir).startswith("charrnn-")
    ):
        first = inherited  # set by a charrnn process: a parent, or an earlier call
    elif numba_dir:
        first = os.path.abspath(numba_dir)
    elif os.path.isabs(os.environ.get("XDG_CACHE_HOME", "")):
        first = os.path.join(os.environ["XDG_CACHE_HOME"], "charrnn", "numba")
    elif os.path.isabs(os.path.expanduser("~")):
        first = os.path.join(os.path.expanduser("~"), ".cache", "charrnn", "numba")
    else:
        first = None
    try:
        user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
        fallback = os.path.join(tempfile.gettempdir(), f"charrnn-numba-{user}")
    except OSError:  # no usable temporary directory
        fallback = None
    for base in dict.fromkeys([first, fallback]):
        if base:
            yield base, base == fallback


def _private(base):
    """Whether base, a directory in a shared temporary directory, is ours alone:
    Numba's cache files are pickles, whoever can write them runs code here."""
    st = os.lstat(base)
    return (
        stat.S_ISDIR(st.st_mode)
        and not st.st_mode & 0o022
        and (not hasattr(os, "getuid") or st.st_uid == os.getuid())
    )


def _last_used(path):
    try:
        return os.stat(os.path.join(path, STAMP)).st_mtime
    except OSError:
        try:
            return os.stat(path).st_mtime
        except OSError:
            return time.time()


def _prune(base, current):
    """Delete the other keys' directories unused for MAX_AGE, except the
    KEEP most recently used of them (the current one is never a candidate).
    Another process may be pruning too, or using one of them: a directory is
    renamed away first (atomic), and all errors are ignored."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    others = [os.path.join(base, n) for n in names if n.startswith("charrnn-") and n != current]
    others = [p for p in others if os.path.isdir(p) and not os.path.islink(p)]
    others.sort(key=_last_used, reverse=True)
    now = time.time()
    for path in others[KEEP:]:
        if now - _last_used(path) > MAX_AGE:
            trash = os.path.join(base, f".trash-{os.path.basename(path)}-{os.getpid()}")
            try:
                os.rename(path, trash)
            except OSError:
                continue
            shutil.rmtree(trash, ignore_errors=True)
    for n in names:  # left by an interrupted deletion
        if n.startswith(".trash-charrnn-"):
            shutil.rmtree(os.path.join(base, n), ignore_errors=True)


def _serialize_saves():
    """Make Numba's cache saves safe between processes.

    Numba saves an entry by reading the function's index, naming the data file
    after the first free number and rewriting both.  Two processes that
    compile different signatures of one function at once (two charrnn runs of
    different sizes starting together) take the same number: the index can
    end up naming the other signature's machine code, which crashes when it
    is called.  Here a save holds an exclusive lock on the function's index
    while it re-reads it, writes the data and then the index.
    """
    save = IndexDataCacheFile.save
    if getattr(save, "serialized", False):
        return
    if not all(
        hasattr(IndexDataCacheFile, name)
        for name in ("_load_index", "_save_index", "_save_data", "_data_name")
    ):
        return  # a Numba whose cache works otherwise: leave it as it is

    def locked_save(self, key, data):
        with open(self._index_path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            overloads = self._load_index()
            data_name = overloads.get(key)
            if data_name is None:
                taken = set(overloads.values())
                data_name = next(
                    name for name in map(self._data_name, itertools.count(1)) if name not in taken
                )
                overloads[key] = data_name
                self._save_data(data_name, data)  # data first: an index never names a missing file
                self._save_index(overloads)
            else:
                self._save_data(data_name, data)

    locked_save.serialized = True
    IndexDataCacheFile.save = locked_save


def configure():
    """Point Numba's cache at <base>/charrnn-<key> and return that directory
    (None if no base is writable: then Numba is left without one)."""
    name = f"charrnn-{key()}"
    for base, shared in _bases():
        path = os.path.join(base, name)
        try:
            if shared:
                os.makedirs(base, mode=0o700, exist_ok=True)
                if not _private(base):
                    continue
            os.makedirs(path, exist_ok=True)  # another process may be creating it too
            with open(os.path.join(path, STAMP), "a"):
                pass
            os.utime(os.path.join(path, STAMP))
        except OSError:
            continue
        _prune(base, name)
        _serialize_saves()
        os.environ["NUMBA_CACHE_DIR"] = path
        os.environ[BASE_VAR] = base
        config.reload_config()  # now, not at the first compile, where it would undo later settings
        config.CACHE_DIR = path
        return path
    config.CACHE_DIR = ""
    return None
