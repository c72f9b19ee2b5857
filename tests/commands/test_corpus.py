import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charrnn.data import corpus
from charrnn.data.corpus import Vocabulary, load_corpus, scan
from charrnn.errors import CharrnnError


def ids_of(path, **kwargs):
    corpus = load_corpus(str(path), **kwargs)
    return corpus.vocab, np.asarray(corpus.ids)


def test_vocabulary_is_sorted_and_ids_are_compact(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("banana\n", encoding="utf-8")
    vocab, ids = ids_of(path)
    assert vocab.chars == "\nabn"
    assert ids.dtype == np.uint8
    assert vocab.decode(ids) == "banana\n"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1))
def test_any_unicode_round_trips(text):
    vocab = Vocabulary(text)
    assert vocab.decode(vocab.encode(text)) == text


def test_blocks_boundaries_do_not_matter(tmp_path, monkeypatch):
    text = "".join(chr(0x4E00 + (i * 7919) % 300) for i in range(5000)) + "\r\nend\r"
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(corpus, "BLOCK_CHARS", 97)
    vocab, ids = ids_of(path)
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert vocab.decode(ids) == expected
    assert ids.dtype == np.uint16  # more than 256 symbols


def test_crlf_and_cr_are_line_breaks(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"a\r\nb\rc\n")
    vocab, ids = ids_of(path)
    assert vocab.decode(ids) == "a\nb\nc\n"


def test_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfhi")
    assert ids_of(path)[0].chars == "hi"


def test_other_encodings(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CharrnnError, match="not utf-8 text"):
        ids_of(path)
    vocab, ids = ids_of(path, encoding="latin-1")
    assert vocab.decode(ids) == "caf\xe9"


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00\x81" * 10, "binary"),
        (b"text\x00with NUL", "NUL"),
        ("UTF-16 text".encode("utf-16-le"), "utf-16"),
    ],
)
def test_unusable_files(tmp_path, content, message):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with pytest.raises(CharrnnError, match=message):
        scan(str(path))


def test_directory_and_unknown_encoding(tmp_path):
    with pytest.raises(CharrnnError, match="directory"):
        scan(str(tmp_path))
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(CharrnnError, match="unknown encoding"):
        scan(str(tmp_path / "t.txt"), encoding="no-such-codec")


def test_unknown_characters_are_named():
    vocab = Vocabulary("abc")
    with pytest.raises(CharrnnError, match=r"'x', 'z'"):
        vocab.encode("abxcz", what="prime")


def test_encoding_with_a_given_vocabulary(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("cab")
    corpus = load_corpus(str(path), vocab=Vocabulary("abcd"))
    assert list(corpus.ids) == [2, 0, 1]
    assert corpus.sha256 == load_corpus(str(path), vocab=Vocabulary("abcd")).sha256
    path.write_text("cba")
    assert corpus.sha256 != load_corpus(str(path), vocab=Vocabulary("abcd")).sha256


def test_a_pipe_is_read_once(tmp_path):
    """<(command) and /dev/stdin can be read only once: they are copied first."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    text = "hello pipe\n" * 1000

    def write():
        with open(fifo, "w") as f:
            f.write(text)

    writer = threading.Thread(target=write)
    writer.start()
    corpus = load_corpus(str(fifo), directory=str(tmp_path))
    writer.join()
    assert corpus.vocab.decode(corpus.ids) == text
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # the copy is gone
