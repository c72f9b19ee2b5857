"""Named corpora: downloads from a real HTTP server on 127.0.0.1 (never the
internet), C source built from header directories, and atomic output.  Every
corpus is made by the test: a few lines of our own, pinned in its place."""

import dataclasses
import functools
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import pytest

from charrnn import files
from charrnn.data import datasets
from charrnn.data.datasets import CORPORA, build, listing
from charrnn.errors import CharrnnError

# The pins of the project's table of corpora (../shared/corpora/README.md),
# written out here so that the check runs in a fresh clone.
PINS = {
    "tinyshakespeare": (
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        1_115_394,
    ),
    "warpeace": (
        "https://raw.githubusercontent.com/MrHereward/machine_learning_sandbox/"
        "2d0fdf30f4afbcf01c1b8c7b408e738a0161d613/warpeace_input.txt",
        "b0fc81c399971eaf738c8be89809e6a0d95c151749112b04f06b6af648d8a39f",
        3_196_228,
    ),
}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, directory it serves) of an HTTP server on an ephemeral port."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def small_download(monkeypatch):
    """A download corpus named "tiny" pinned to a few known bytes."""
    data = b"To be, or not to be\n" * 50
    source = datasets.Source(
        "tiny",
        "a test",
        "http://nowhere.invalid/tiny.txt",
        "download",
        "http://nowhere.invalid/tiny.txt",
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    monkeypatch.setitem(CORPORA, "tiny", source)
    return data


@pytest.fixture
def small_warpeace(monkeypatch):
    """warpeace pinned to a few lines of UTF-8 of our own: more bytes than characters,
    as in the real one."""
    data = "Hélène and Natásha; a café, naïve and crème.\n".encode() * 30
    pinned = dataclasses.replace(
        CORPORA["warpeace"], sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    monkeypatch.setitem(CORPORA, "warpeace", pinned)
    return data


def leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def test_warpeace_from_a_mirror(server, tmp_path, small_warpeace):
    base, root = server
    (root / "warpeace_input.txt").write_bytes(small_warpeace)
    out = tmp_path / "corpora" / "wp.txt"  # the parent does not exist yet
    report = build("warpeace", str(out), url=f"{base}/warpeace_input.txt")
    assert out.read_bytes() == small_warpeace
    assert report == {
        "name": "warpeace",
        "path": str(out),
        "bytes": 1_530,
        "characters": 1_350,
        "sha256": CORPORA["warpeace"].sha256,
        "origin": f"{base}/warpeace_input.txt",
    }
    assert leftovers(out.parent) == ["wp.txt"]


def test_file_url(tmp_path, small_download):
    served = tmp_path / "tiny.txt"
    served.write_bytes(small_download)
    report = build("tiny", str(tmp_path / "out.txt"), url=served.as_uri())
    assert (tmp_path / "out.txt").read_bytes() == small_download
    assert report["origin"] == served.as_uri() and report["bytes"] == len(small_download)


def test_checksum_mismatch_writes_nothing(server, tmp_path, small_download):
    base, root = server
    (root / "altered.txt").write_bytes(small_download.replace(b"be", b"BE", 1))
    out = tmp_path / "out" / "tiny.txt"
    out.parent.mkdir()
    with pytest.raises(CharrnnError) as error:
        build("tiny", str(out), url=f"{base}/altered.txt")
    message = str(error.value)
    altered = hashlib.sha256(small_download.replace(b"be", b"BE", 1)).hexdigest()
    assert altered in message and CORPORA["tiny"].sha256 in message
    assert "nothing was written" in message
    assert leftovers(out.parent) == []


def test_no_network_writes_nothing(tmp_path, small_download):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CharrnnError, match=r"cannot download .*check the network.*--url file"):
        build("tiny", str(tmp_path / "out.txt"), url=f"http://127.0.0.1:{port}/tiny.txt")
    assert leftovers(tmp_path) == []


def test_http_error_status(server, tmp_path, small_download):
    base, _ = server
    with pytest.raises(CharrnnError, match="HTTP 404"):
        build("tiny", str(tmp_path / "out.txt"), url=f"{base}/missing.txt")
    assert leftovers(tmp_path) == []


def test_missing_file_url(tmp_path, small_download):
    with pytest.raises(CharrnnError, match="check the path"):
        build("tiny", str(tmp_path / "out.txt"), url=(tmp_path / "none.txt").as_uri())


def test_oversize_body_is_refused(server, tmp_path, small_download):
    base, root = server
    (root / "huge.txt").write_bytes(small_download * 5)
    with pytest.raises(CharrnnError, match="more than 4,000 bytes where 1,000 are expected"):
        build("tiny", str(tmp_path / "out.txt"), url=f"{base}/huge.txt")
    assert leftovers(tmp_path) == []


def test_oversize_body_without_a_length_is_cut_short(tmp_path, small_download, monkeypatch):
    """A body whose size is not announced is read only up to the limit."""
    reads = []

    class Endless:
        headers = {}

        def read(self, n):
            reads.append(n)
            return b"x" * n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

    monkeypatch.setattr(datasets.urllib.request, "urlopen", lambda url, timeout: Endless())
    monkeypatch.setattr(datasets, "BLOCK", 100)
    with pytest.raises(CharrnnError, match="more than 4,000 bytes"):
        datasets.download("http://example.invalid/", "0" * 64, 1000)
    assert len(reads) == 41


def write_headers(root):
    (root / "sys").mkdir(parents=True)
    (root / "a.h").write_text("#define A 1\nint a(void);\n")
    (root / "b.h").write_bytes(b"/* caf\xe9 in latin-1 */\n#define B 2\n")  # skipped
    (root / "sys" / "c.h").write_text("#include <a.h>\n#define C 3")  # no final newline
    (root / "link.h").symlink_to(root / "a.h")  # already read as a.h
    (root / "notes.txt").write_text("not a header\n")


def test_c_from_a_directory(tmp_path):
    source = tmp_path / "include"
    write_headers(source)
    out = tmp_path / "c.txt"
    report = build("c", str(out), source=str(source))
    expected = "#define A 1\nint a(void);\n#include <a.h>\n#define C 3\n"
    assert out.read_text() == expected
    assert report["origin"] == str(source) and report["bytes"] == len(expected)
    assert report["sha256"] == hashlib.sha256(expected.encode()).hexdigest()


def test_c_size_is_cut_at_a_line_end(tmp_path):
    source = tmp_path / "include"
    write_headers(source)
    out = tmp_path / "c.txt"
    report = build("c", str(out), size=30, source=str(source))
    assert out.read_text() == "#define A 1\nint a(void);\n"  # 25 bytes; the next line ends at 40
    assert report["bytes"] == report["characters"] == 25
    with pytest.raises(CharrnnError, match="--size 5 is too small"):
        build("c", str(out), size=5, source=str(source))


@pytest.mark.skipif(not any(Path("/usr/include").glob("*.h")), reason="no C headers here")
def test_c_from_usr_include(tmp_path):
    report = build("c", str(tmp_path / "c.txt"), size=200_000)
    text = (tmp_path / "c.txt").read_text(encoding="utf-8")
    assert report["origin"] == "/usr/include" and 0 < report["bytes"] <= 200_000
    assert text.endswith("\n") and ("#include" in text or "#define" in text)


def test_c_without_headers(tmp_path):
    with pytest.raises(CharrnnError, match=r"no C header files.*apt install libc6-dev.*--source"):
        build("c", str(tmp_path / "c.txt"), source=str(tmp_path))
    assert leftovers(tmp_path) == []


def test_stdlib_from_a_directory(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "b.py").write_text("def b():\n    pass\n")
    (tmp_path / "src" / "a.py").write_text("import b\n")
    (tmp_path / "src" / "pkg" / "c.py").write_text("# not at the top level\n")
    report = build("stdlib", str(tmp_path / "py.txt"), source=tmp_path / "src")
    assert (tmp_path / "py.txt").read_text() == "import b\ndef b():\n    pass\n"
    assert report["origin"] == str(tmp_path / "src")


def test_interrupted_write_leaves_nothing(tmp_path, small_download, monkeypatch):
    served = tmp_path / "tiny.txt"
    served.write_bytes(small_download)
    out = tmp_path / "out"
    out.mkdir()
    real = files.write_atomically

    def interrupted(path, write):
        def write_then_stop(f):
            write(f)
            raise KeyboardInterrupt

        real(path, write_then_stop)

    monkeypatch.setattr(files, "write_atomically", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build("tiny", str(out / "tiny.txt"), url=served.as_uri())
    assert leftovers(out) == []


def test_output_permissions_follow_the_umask(tmp_path, small_download):
    served = tmp_path / "tiny.txt"
    served.write_bytes(small_download)
    old = os.umask(0o002)
    try:
        build("tiny", str(tmp_path / "out.txt"), url=served.as_uri())
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o664


def test_unwritable_output(tmp_path, small_download):
    served = tmp_path / "tiny.txt"
    served.write_bytes(small_download)
    (tmp_path / "dir").mkdir()
    with pytest.raises(CharrnnError, match="cannot write"):
        build("tiny", str(tmp_path / "dir"), url=served.as_uri())


@pytest.mark.parametrize(
    "name,options,message",
    [
        ("stdlib", {"url": "file:///x"}, "--url"),
        ("c", {"url": "file:///x"}, "--url"),
        ("tinyshakespeare", {"source": "/tmp"}, "--source"),
        ("stdlib", {"size": 0}, "--size"),
        ("stdlib", {"source": "/no/such/dir"}, "--source /no/such/dir: not a directory"),
        ("shakespeare", {}, "tinyshakespeare, warpeace, stdlib, c"),
    ],
)
def test_bad_options(tmp_path, name, options, message):
    with pytest.raises(CharrnnError, match=message):
        build(name, str(tmp_path / "out.txt"), **options)
    assert leftovers(tmp_path) == []


def test_listing():
    rows = listing()
    assert [r["name"] for r in rows] == ["tinyshakespeare", "warpeace", "stdlib", "c"]
    for row in rows:
        assert set(row) == {"name", "description", "kind", "bytes", "origin"}
        assert row["kind"] in ("download", "built") and row["description"]
        assert (row["bytes"] is None) == (row["kind"] == "built")
    assert rows[0]["bytes"] == 1_115_394 and rows[0]["origin"].startswith("https://")
    assert rows[1]["bytes"] == 3_196_228
    assert rows[3]["origin"] == "/usr/include"


def test_pins_match_the_corpora_table():
    assert {
        name: (CORPORA[name].url, CORPORA[name].sha256, CORPORA[name].size) for name in PINS
    } == PINS
