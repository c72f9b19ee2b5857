"""Named corpora built on the user's machine: none are shipped with charrnn.

Two kinds, as char-rnn showed them:
- downloaded (``tinyshakespeare``, ``warpeace``): fetched from a pinned URL,
  or a mirror the user names, and checked against a pinned SHA-256, since
  copies of the same name differ (War and Peace exists with and without a
  byte-order mark and CR line endings);
- built (``stdlib``, ``c``): source code already on this machine, read
  offline, the way char-rnn was shown learning the Linux kernel's C source.

Nothing is written unless the whole corpus was had and checked, and then it is
written atomically, so a failed or interrupted build leaves no partial file.
"""

import dataclasses
import hashlib
import http.client
import os
import stat
import sysconfig
import urllib.error
import urllib.request

from .. import files
from ..errors import CharrnnError, Conflict

TIMEOUT = 60  # seconds a silent server is waited for, so a stalled mirror fails, not hangs
BLOCK = 1 << 16  # bytes read at a time
OVERSIZE = 4  # a body this many times the pinned size is the wrong file: stop reading it
C_INCLUDE = "/usr/include"


@dataclasses.dataclass(frozen=True)
class Source:
    """One named corpus.  ``origin`` is where it comes from unless told
    otherwise: the pinned URL of a download, the directory a built corpus is
    read from.  ``url``, ``sha256`` and ``size`` (bytes) pin a download."""

    name: str
    description: str
    origin: str
    kind: str  # "download" or "built"
    url: str | None = None
    sha256: str | None = None
    size: int | None = None


def _download(name, description, url, sha256, size):
    return Source(name, description, url, "download", url, sha256, size)


CORPORA = {
    s.name: s
    for s in [
        _download(
            "tinyshakespeare",
            "Shakespeare's plays, char-rnn's standard benchmark",
            "https://raw.githubusercontent.com/karpathy/char-rnn/master/"
            "data/tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            1_115_394,
        ),
        # Pinned to a commit: the char-rnn showcase's file, LF line endings, no BOM.
        _download(
            "warpeace",
            "Tolstoy's War and Peace in English, as in char-rnn's showcase",
            "https://raw.githubusercontent.com/MrHereward/machine_learning_sandbox/"
            "2d0fdf30f4afbcf01c1b8c7b408e738a0161d613/warpeace_input.txt",
            "b0fc81c399971eaf738c8be89809e6a0d95c151749112b04f06b6af648d8a39f",
            3_196_228,
        ),
        Source(
            "stdlib",
            "Python source of this interpreter's standard library (offline)",
            sysconfig.get_paths()["stdlib"],
            "built",
        ),
        Source("c", "C source from the system's header files (offline)", C_INCLUDE, "built"),
    ]
}
NAMES = tuple(CORPORA)


def listing():
    """One dict per corpus, in table order, for ``charrnn corpus --list``."""
    return [
        {
            "name": s.name,
            "description": s.description,
            "kind": s.kind,
            "bytes": s.size,
            "origin": s.origin,
        }
        for s in CORPORA.values()
    ]


def build(name, path, size=1_000_000, url=None, source=None):
    """Write corpus ``name`` to ``path`` atomically and report what was written.

    ``size`` caps a built corpus (bytes, cut at a line end); ``url`` downloads
    from a mirror, still checked against the pinned SHA-256; ``source`` builds
    from another directory."""
    if name not in CORPORA:
        raise CharrnnError(f"unknown corpus {name!r}; choose one of: {', '.join(CORPORA)}")
    corpus = CORPORA[name]
    if size < 1:
        raise CharrnnError(f"--size must be at least 1 byte, not {size}")
    if corpus.kind == "download":
        if source is not None:
            raise Conflict(
                "--source is for the corpora built from local files; "
                f"{name} is downloaded (use --url for a mirror)"
            )
        origin = corpus.url if url is None else url
        data = download(origin, corpus.sha256, corpus.size)
    else:
        if url is not None:
            raise Conflict(
                f"--url is for the downloaded corpora; {name} is built from "
                "local files (use --source DIR)"
            )
        if source is not None and not os.path.isdir(source):
            raise CharrnnError(f"--source {source}: not a directory")
        origin = corpus.origin if source is None else str(source)
        data = BUILDERS[name](origin, size)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        files.write_atomically(path, lambda f: f.write(data))
    except OSError as e:
        raise CharrnnError(f"cannot write {path}: {e.strerror or e}") from None
    return {
        "name": name,
        "path": path,
        "bytes": len(data),
        "characters": len(data.decode("utf-8")),
        "sha256": hashlib.sha256(data).hexdigest(),
        "origin": origin,
    }


def stdlib_source(root, size):
    """Up to ``size`` bytes of the .py files at the top of ``root``, in name order."""
    try:
        names = os.listdir(root)
    except OSError as e:
        raise CharrnnError(f"cannot read {root}: {e.strerror}") from None
    paths = sorted(os.path.join(root, n) for n in names if n.endswith(".py"))
    data = read_text_files(paths, size)
    if not data:
        raise CharrnnError(f"no Python source files (*.py) in {root}")
    return cut_at_line(data, size, root)


def c_source(root, size):
    """Up to ``size`` bytes of the .h files under ``root``, in path order."""
    # os.walk does not descend into symlinked directories, so a link cycle
    # cannot trap it; their headers are usually under root already.
    paths = sorted(
        os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n.endswith(".h")
    )
    data = read_text_files(paths, size)
    if not data:
        raise CharrnnError(
            f"no C header files (*.h) in {root}; install the C library headers "
            "(Debian/Ubuntu: apt install libc6-dev) or pass --source DIR"
        )
    return cut_at_line(data, size, root)


BUILDERS = {"stdlib": stdlib_source, "c": c_source}


def read_text_files(paths, size):
    """The UTF-8 files among ``paths`` joined, stopping once ``size`` bytes are had.

    Files that cannot be read or are not UTF-8 are skipped rather than failing
    the build: a system directory always has a few.  A file reached twice
    through symlinks is read once."""
    parts, total, seen = [], 0, set()
    for path in paths:
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) in seen:
                continue  # a FIFO named *.h would block; a duplicate would teach repetition
            seen.add((info.st_dev, info.st_ino))
            with open(path, "rb") as f:
                data = f.read()
            data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if data and not data.endswith(b"\n"):
            data += b"\n"  # so the next file starts on a line of its own
        parts.append(data)
        total += len(data)
        if total >= size:
            break
    return b"".join(parts)


def cut_at_line(data, size, root):
    """The whole lines of ``data`` that fit in ``size`` bytes.  Cutting at a
    line end keeps the text valid UTF-8 and leaves no half line at the end."""
    end = data.rfind(b"\n", 0, size) + 1
    if end == 0:
        raise CharrnnError(f"--size {size} is too small: the first line from {root} is longer")
    return data[:end]


def download(url, sha256, size):
    """The body at ``url``, checked against ``sha256``; a CharrnnError says
    why it could not be had.  ``size`` is the pinned byte count: a body much
    larger is refused before it is all read, so a wrong URL cannot fill memory."""
    limit = OVERSIZE * size
    hint = (
        "check the path"
        if url.startswith("file:")
        else "check the network, or download it yourself and pass --url file:///path"
    )
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > limit:
                raise _too_large(url, limit, size)
            body = bytearray()
            while block := response.read(BLOCK):
                body += block
                if len(body) > limit:
                    raise _too_large(url, limit, size)
    except urllib.error.HTTPError as e:
        e.close()
        raise CharrnnError(
            f"cannot download {url}: HTTP {e.code} {e.reason}; check the URL, "
            "or download it yourself and pass --url file:///path"
        ) from None
    except urllib.error.URLError as e:
        raise CharrnnError(f"cannot download {url}: {e.reason}; {hint}") from None
    except (OSError, http.client.HTTPException) as e:  # a connection lost while reading
        raise CharrnnError(f"cannot download {url}: {str(e) or type(e).__name__}; {hint}") from None
    except ValueError as e:  # urllib's word for a malformed URL
        raise CharrnnError(
            f"cannot download {url}: {e}; give an https:// or file:/// URL"
        ) from None
    digest = hashlib.sha256(body).hexdigest()
    if digest != sha256:
        raise CharrnnError(
            f"{url}: SHA-256 {digest} is not the pinned {sha256}; a different "
            "or damaged file, nothing was written"
        )
    return bytes(body)


def _too_large(url, limit, size):
    return CharrnnError(
        f"{url}: more than {limit:,} bytes where {size:,} are expected; the "
        "wrong file, nothing was written"
    )
