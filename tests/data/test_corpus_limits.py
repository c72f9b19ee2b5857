"""What a corpus may be: a regular file or a pipe of at most MAX_CORPUS_BYTES,
never a device; encodings that are not text; a copy of a pipe that nothing
outlives; a disk too full for the encoded corpus.  Each refusal is one line."""

import os
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from charrnn.cli import main
from charrnn.data import corpus as corpora
from charrnn.data.corpus import load_corpus
from charrnn.errors import CharrnnError
from charrnn.files import remove_stale_temporaries


def refusal(args):
    """The one-line message of a command that must fail with exit code 1."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused_as_a_corpus(tmp_path, device):
    message = refusal(["train", device, "--out", tmp_path, "--quiet"])
    assert f"{device}: is a device" in message
    assert sorted(os.listdir(tmp_path)) == []  # nothing copied, the lock released


def test_eval_names_the_file_it_was_given_not_a_copy(trained):
    out, _ = trained
    checkpoint = out / "best.npz"
    assert "/dev/null: is a device" in refusal(["eval", checkpoint, "/dev/null"])
    read, write = os.pipe()
    os.close(write)  # an empty pipe
    try:
        message = refusal(["eval", checkpoint, f"/dev/fd/{read}"])
    finally:
        os.close(read)
    assert f"/dev/fd/{read}: the file is empty" in message and ".charrnn" not in message


@pytest.mark.parametrize(
    "encoding,says",
    [
        ("utf-16", "not utf-16 text (UTF-16 stream does not start with BOM)"),
        ("punycode", "not punycode text"),
        ("rot13", "'rot13' is not a text encoding"),
        ("hex", "'hex' is not a text encoding"),
        ("base64", "'base64' is not a text encoding"),
        ("zlib", "'zlib' is not a text encoding"),
    ],
)
def test_encodings_that_cannot_read_the_corpus(tmp_path, corpus_file, encoding, says):
    message = refusal(["train", corpus_file, "--out", tmp_path, "--encoding", encoding, "--quiet"])
    assert says in message


def test_a_regular_file_over_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "MAX_CORPUS_BYTES", 1000)
    path = tmp_path / "big.txt"
    path.write_text("abc\n" * 300)
    with pytest.raises(CharrnnError, match="has 1,200 bytes, more than the 1,000 bytes"):
        load_corpus(str(path))


def test_a_pipe_is_read_up_to_the_limit_and_its_copy_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "MAX_CORPUS_BYTES", 100_000)
    read, write = os.pipe()

    def writer():  # more than the limit, or until the reader gives up
        try:
            for _ in range(30):
                os.write(write, b"some text\n" * 1000)
        except BrokenPipeError:
            pass
        finally:
            os.close(write)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(CharrnnError, match=r"/dev/fd/\d+: more than the 100,000 bytes"):
            load_corpus(f"/dev/fd/{read}", directory=str(tmp_path))
    finally:
        os.close(read)
        thread.join()
    assert os.listdir(tmp_path) == []
    corpus = load_corpus(pipe_of(b"short text\n" * 100), directory=str(tmp_path))
    assert len(corpus.ids) == 1100 and os.listdir(tmp_path) == []  # the copy: unlinked


def pipe_of(data):
    """/dev/fd/N of a pipe holding ``data`` (under the pipe's buffer size)."""
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    return f"/dev/fd/{read}"


def test_a_run_killed_while_copying_a_pipe_leaves_no_copy(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "charrnn", "train", "/dev/stdin", "--out", str(out), "--quiet"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    block = b"an endless corpus\n" * 10_000
    for _ in range(20):  # 3.6 MB: more than a pipe buffers, so the copy has begun
        process.stdin.write(block)
    process.stdin.flush()
    time.sleep(0.2)
    process.kill()
    process.wait()
    process.stdin.close()
    process.stderr.close()
    assert [name for name in os.listdir(out) if name != ".lock"] == []


def test_copies_left_by_charrnn_1_1_are_removed_from_a_run_directory(tmp_path):
    (tmp_path / ".charrnn-pipe-k2j4l1").write_bytes(b"a partial copy")
    remove_stale_temporaries(str(tmp_path))  # under the run lock, as a run starts
    assert os.listdir(tmp_path) == []


def test_a_disk_full_while_encoding_the_corpus_is_one_line(tmp_path, small_disk):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("enough text to fill a small disk\n" * 6000)  # 200 kB of ids
    out = small_disk(tmp_path / "disk", "64k")
    message = refusal(["train", corpus, "--out", out, "--quiet"])
    assert f"{out}: cannot write the encoded corpus there (No space left on device)" in message
