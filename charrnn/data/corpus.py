"""Text file -> vocabulary -> compact id array on disk, memory-mapped.

The file is read twice in blocks, never as one string: once to collect the
vocabulary and count characters, once to write ids (uint8 for <= 256 symbols,
uint16 or uint32 above) into an unlinked temporary file that is then
memory-mapped, so memory does not grow with the corpus.  Line endings are
read universally: CR and CRLF become LF.  A UTF-8 byte-order mark is dropped.

A corpus is a regular file or a pipe of at most MAX_CORPUS_BYTES; a device
(/dev/zero, a terminal) is refused, since it may never end.
"""

import codecs
import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..errors import CharrnnError

BLOCK_CHARS = 1 << 20
# 2 GiB: twice enwik9, and the ids of a corpus this size still fit the disk of
# a small machine beside it (1 byte a character for up to 256 symbols).
MAX_CORPUS_BYTES = 2 << 30


class Vocabulary:
    """The characters of a corpus, in code-point order; id = position."""

    def __init__(self, chars):
        self.chars = "".join(sorted(set(chars)))
        self.index = {ch: i for i, ch in enumerate(self.chars)}
        self.dtype = id_dtype(len(self.chars))
        codepoints = self.codepoints()
        # Lookup table from code point to id; -1 marks characters not in the vocabulary.
        self._lut = np.full(int(codepoints.max()) + 1 if len(codepoints) else 1, -1, np.int64)
        self._lut[codepoints] = np.arange(len(codepoints))

    def __len__(self):
        return len(self.chars)

    def codepoints(self):
        return np.array([ord(ch) for ch in self.chars], dtype=np.int32)

    @classmethod
    def from_codepoints(cls, codepoints):
        return cls("".join(map(chr, codepoints)))

    def encode(self, text, what="text", fix=None):
        """ids of ``text``; characters outside the vocabulary are an error that
        names them, and ``fix``, what to do about them."""
        ids, unknown = self.encode_known(text)
        if unknown:
            raise CharrnnError(
                f"{what} has characters the model never saw: {show(unknown)}"
                + (f"; {fix}" if fix else "")
            )
        return ids

    def encode_known(self, text):
        """(ids of the characters of ``text`` in the vocabulary, the others as a list
        with repeats, in order)."""
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        ids = np.full(len(cps), -1, np.int64)
        known = cps < len(self._lut)
        ids[known] = self._lut[cps[known]]
        missing = np.flatnonzero(ids < 0)
        unknown = [text[i] for i in missing]
        if len(missing):
            ids = ids[ids >= 0]
        return ids.astype(self.dtype), unknown

    def decode(self, ids):
        return "".join([self.chars[i] for i in ids])


def show(chars, limit=10):
    """Distinct characters for a message: repr'd, in code-point order, at most ``limit``."""
    distinct = sorted(set(chars))
    more = f" and {len(distinct) - limit} more" if len(distinct) > limit else ""
    return ", ".join(repr(ch) for ch in distinct[:limit]) + more


def id_dtype(vocab_size):
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


# What an --encoding that is not one should be.
ENCODING_FIX = "--encoding takes a text encoding such as utf-8, latin-1 or cp1252"


def read_blocks(source, encoding="utf-8", name=None):
    """Yield the text of ``source`` in blocks of at most BLOCK_CHARS characters:
    a path, or the descriptor of an open file (read from its start).
    Messages call it ``name`` (default: the path)."""
    name = source if name is None else name
    if isinstance(source, str) and os.path.isdir(source):
        raise CharrnnError(f"{name}: is a directory, not a text file")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CharrnnError(f"unknown encoding {encoding!r}; {ENCODING_FIX}") from None
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # drops a byte-order mark
    if isinstance(source, int):
        os.lseek(source, 0, os.SEEK_SET)
    try:
        f = open(source, encoding=encoding, newline=None, closefd=not isinstance(source, int))
    except LookupError:  # a codec of bytes to bytes (base64, zlib) or of text to text (rot13)
        raise CharrnnError(f"{encoding!r} is not a text encoding; {ENCODING_FIX}") from None
    except OSError as e:
        raise CharrnnError(f"{name}: {e.strerror}") from None
    try:
        with f:
            while block := f.read(BLOCK_CHARS):
                yield block
    except UnicodeError as e:  # UnicodeDecodeError, or a codec's own (UTF-16 without a BOM)
        reason = e.reason if isinstance(e, UnicodeDecodeError) else str(e)
        raise CharrnnError(
            f"{name}: not {encoding.removesuffix('-sig')} text ({reason}); "
            "is it a binary file? --encoding reads other encodings"
        ) from None
    except OSError as e:
        raise CharrnnError(f"{name}: {e.strerror}") from None


def scan(source, encoding="utf-8", name=None):
    """(Vocabulary, character count) of a file (read_blocks' ``source`` and
    ``name``), in one streaming pass."""
    name = source if name is None else name
    chars, count = set(), 0
    for block in read_blocks(source, encoding, name):
        if "\0" in block:
            raise CharrnnError(
                f"{name}: contains NUL characters, so it is binary or UTF-16/32 "
                "text; --encoding utf-16 reads UTF-16"
            )
        chars.update(block)
        count += len(block)
    if count == 0:
        raise CharrnnError(f"{name}: the file is empty")
    return Vocabulary(chars), count


@dataclass
class Corpus:
    vocab: Vocabulary
    ids: np.ndarray  # read-only memory map, one id per character
    sha256: str  # of the ids: identifies the text for resuming
    file_sha256: str  # of the file's bytes, as sha256sum prints it
    skipped: int = 0  # characters dropped by skip_unknown
    skipped_chars: set = field(default_factory=set)  # which, each once


def encode_file(source, vocab, encoding="utf-8", directory=None, skip_unknown=False, name=None):
    """(ids as a read-only memory map, their SHA-256, how many characters were
    skipped, which) of read_blocks' ``source`` (called ``name``).

    Characters outside ``vocab`` are an error naming them, or with
    ``skip_unknown`` left out of the ids.  The backing file, in ``directory``,
    is unlinked at creation, so nothing is left behind even if the process is
    killed; a disk too full for it is an error.
    """
    name = source if name is None else name
    digest = hashlib.sha256()
    skipped, skipped_chars = 0, set()
    # read_blocks reports its own errors: an OSError here is the temporary file's
    with spilling(directory, "the encoded corpus"), tempfile.TemporaryFile(dir=directory) as f:
        for block in read_blocks(source, encoding, name):
            ids, unknown = vocab.encode_known(block)
            if unknown and not skip_unknown:
                raise CharrnnError(
                    f"{name} has characters the model never saw: {show(unknown)}; "
                    "--unknown skip drops them (and counts them)"
                )
            skipped += len(unknown)
            skipped_chars.update(unknown)
            data = ids.tobytes()
            digest.update(data)
            f.write(data)
        f.flush()
        count = f.tell() // vocab.dtype.itemsize
        ids = (
            np.memmap(f, dtype=vocab.dtype, mode="r", shape=(count,))
            if count
            else np.zeros(0, vocab.dtype)
        )
        return ids, digest.hexdigest(), skipped, skipped_chars


@contextlib.contextmanager
def spilling(directory, what):
    """Writing ``what`` to a temporary file in ``directory``: an OSError (a
    full disk) becomes a CharrnnError naming the directory."""
    try:
        yield
    except OSError as e:
        where = directory or tempfile.gettempdir()
        raise CharrnnError(f"{where}: cannot write {what} there ({e.strerror})") from None


def file_sha256(source):
    """The SHA-256 of a file's bytes: a path (not a device, which may never
    end: regular_file), or a descriptor (read from its start)."""
    digest = hashlib.sha256()
    if isinstance(source, int):
        os.lseek(source, 0, os.SEEK_SET)
    else:
        regular_file(source)
    with open(source, "rb", closefd=not isinstance(source, int)) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_corpus(path, encoding="utf-8", vocab=None, directory=None, skip_unknown=False):
    """The Corpus of a text file; with ``vocab`` given, encoded with it (eval),
    and then with ``skip_unknown`` the characters outside it are dropped.  A
    pipe (``<(command)``, /dev/stdin) can be read only once, so it is first
    copied to a temporary file in ``directory``."""
    copy = stream_copy(path, directory) if not regular_file(path) else None
    source = path if copy is None else copy.fileno()
    try:
        found, count = scan(source, encoding, path)
        vocab = vocab or found
        ids, sha256, skipped, skipped_chars = encode_file(
            source, vocab, encoding, directory, skip_unknown, path
        )
        return Corpus(vocab, ids, sha256, file_sha256(source), skipped, skipped_chars)
    finally:
        if copy is not None:
            copy.close()


def regular_file(path):
    """Whether ``path`` is a regular file, refused above MAX_CORPUS_BYTES; False
    for a pipe; a device, which may never end (/dev/zero, a terminal), is refused."""
    try:
        info = os.stat(path)
    except OSError as e:
        raise CharrnnError(f"{path}: {e.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise CharrnnError(f"{path}: is a directory, not a text file")
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
        raise CharrnnError(
            f"{path}: is a device, not a text file (a device such as /dev/zero or a "
            "terminal may never end); name a file, or pipe the text in"
        )
    if stat.S_ISREG(info.st_mode) and info.st_size > MAX_CORPUS_BYTES:
        raise CharrnnError(too_long(path, f" has {info.st_size:,} bytes,"))
    return stat.S_ISREG(info.st_mode)


def too_long(path, size=""):
    return (
        f"{path}:{size} more than the {MAX_CORPUS_BYTES:,} bytes "
        f"({MAX_CORPUS_BYTES / 2**30:g} GiB) a corpus may have; train on a part of it (head -c)"
    )


def stream_copy(path, directory):
    """An unlinked temporary file in ``directory`` holding what the pipe ``path``
    gives, at most MAX_CORPUS_BYTES; closed (and so gone) on any error."""
    what = f"a copy of {path}"
    with spilling(directory, what):
        copy = tempfile.TemporaryFile(dir=directory)
    try:
        with open(path, "rb") as source:  # an OSError outside spilling: reading the pipe
            copied = 0
            while block := source.read(BLOCK_CHARS):
                copied += len(block)
                if copied > MAX_CORPUS_BYTES:
                    raise CharrnnError(too_long(path))
                with spilling(directory, what):
                    copy.write(block)
        with spilling(directory, what):
            copy.flush()
    except OSError as e:
        copy.close()
        raise CharrnnError(f"{path}: {e.strerror}") from None
    except BaseException:
        copy.close()
        raise
    return copy
