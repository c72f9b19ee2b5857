"""Named corpora built on the user's machine: none are shipped with charrnn.

- ``stdlib``: Python source from this interpreter's standard library (offline),
  the way char-rnn was shown learning the Linux kernel's C source.
- ``tinyshakespeare``: downloaded from its public URL and checked against a
  pinned SHA-256.
"""
import hashlib
import os
import sysconfig
import tempfile
import urllib.request

from ..errors import CharrnnError

TINYSHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/"
                       "data/tinyshakespeare/input.txt")
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
NAMES = ("stdlib", "tinyshakespeare")


def build(name, path, size=1_000_000):
    """Write corpus ``name`` to ``path`` atomically; ``size`` caps stdlib (bytes)."""
    if name == "stdlib":
        data = stdlib_source(size)
    else:
        data = download(TINYSHAKESPEARE_URL, TINYSHAKESPEARE_SHA256)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


def stdlib_source(size):
    """The first ``size`` bytes (cut at a file boundary when possible) of the
    standard library's top-level .py files in name order."""
    root = sysconfig.get_paths()["stdlib"]
    parts, total = [], 0
    for name in sorted(os.listdir(root)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(root, name), "rb") as f:
            data = f.read()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        parts.append(data)
        total += len(data)
        if total >= size:
            break
    if not parts:
        raise CharrnnError(f"no Python source files found in {root}")
    return b"".join(parts)[:size].rsplit(b"\n", 1)[0] + b"\n"


def download(url, sha256):
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as e:
        raise CharrnnError(f"cannot download {url}: {e}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise CharrnnError(f"{url}: SHA-256 {digest} is not the pinned {sha256}")
    return data
