"""Text file -> vocabulary -> compact id array on disk, memory-mapped.

The file is read twice in blocks, never as one string: once to collect the
vocabulary and count characters, once to write ids (uint8 for <= 256 symbols,
uint16 or uint32 above) into an unlinked temporary file that is then
memory-mapped, so memory does not grow with the corpus.  Line endings are
read universally: CR and CRLF become LF.  A UTF-8 byte-order mark is dropped.
"""

import codecs
import hashlib
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from ..errors import CharrnnError

BLOCK_CHARS = 1 << 20


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

    def encode(self, text, what="text"):
        """ids of ``text``; characters outside the vocabulary are an error that names them."""
        ids, unknown = self.encode_known(text)
        if unknown:
            raise CharrnnError(f"{what} has characters the model never saw: {show(unknown)}")
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


def read_blocks(path, encoding="utf-8"):
    """Yield the text of ``path`` in blocks of at most BLOCK_CHARS characters."""
    if os.path.isdir(path):
        raise CharrnnError(f"{path}: is a directory, not a text file")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CharrnnError(f"unknown encoding {encoding!r}") from None
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # drops a byte-order mark
    try:
        with open(path, encoding=encoding, newline=None) as f:
            while block := f.read(BLOCK_CHARS):
                yield block
    except UnicodeDecodeError as e:
        raise CharrnnError(
            f"{path}: not {encoding.removesuffix('-sig')} text ({e.reason}); "
            "is it a binary file? --encoding reads other encodings"
        ) from None
    except OSError as e:
        raise CharrnnError(f"{path}: {e.strerror}") from None


def scan(path, encoding="utf-8"):
    """(Vocabulary, character count) of a file, in one streaming pass."""
    chars, count = set(), 0
    for block in read_blocks(path, encoding):
        if "\0" in block:
            raise CharrnnError(
                f"{path}: contains NUL characters, so it is binary or UTF-16/32 "
                "text; --encoding utf-16 reads UTF-16"
            )
        chars.update(block)
        count += len(block)
    if count == 0:
        raise CharrnnError(f"{path}: the file is empty")
    return Vocabulary(chars), count


@dataclass
class Corpus:
    vocab: Vocabulary
    ids: np.ndarray  # read-only memory map, one id per character
    sha256: str  # of the ids: identifies the text for resuming
    file_sha256: str  # of the file's bytes, as sha256sum prints it
    skipped: int = 0  # characters dropped by skip_unknown
    skipped_chars: set = field(default_factory=set)  # which, each once


def encode_file(path, vocab, encoding="utf-8", directory=None, skip_unknown=False):
    """(ids as a read-only memory map, their SHA-256, how many characters were
    skipped, which).

    Characters outside ``vocab`` are an error naming them, or with
    ``skip_unknown`` left out of the ids.  The backing file is unlinked at
    creation, so nothing is left behind even if the process is killed.
    """
    digest = hashlib.sha256()
    skipped, skipped_chars = 0, set()
    with tempfile.TemporaryFile(dir=directory) as f:
        for block in read_blocks(path, encoding):
            ids, unknown = vocab.encode_known(block)
            if unknown and not skip_unknown:
                raise CharrnnError(f"{path} has characters the model never saw: {show(unknown)}")
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


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_corpus(path, encoding="utf-8", vocab=None, directory=None, skip_unknown=False):
    """The Corpus of a text file; with ``vocab`` given, encoded with it (eval),
    and then with ``skip_unknown`` the characters outside it are dropped.  A
    pipe (``<(command)``, /dev/stdin) can be read only once, so it is first
    copied to a temporary file."""
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".charrnn-pipe-") as copy:
            with open(path, "rb") as source:
                while block := source.read(BLOCK_CHARS):
                    copy.write(block)
            copy.flush()
            return load_corpus(copy.name, encoding, vocab, directory, skip_unknown)
    found, count = scan(path, encoding)
    vocab = vocab or found
    ids, sha256, skipped, skipped_chars = encode_file(
        path, vocab, encoding, directory, skip_unknown
    )
    return Corpus(vocab, ids, sha256, file_sha256(path), skipped, skipped_chars)
