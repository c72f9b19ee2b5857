"""The keyed Numba cache directory (charrnn/kernels/cache.py).

Process state matters here (environment variables, Numba's config, the cache
on disk), so every case runs Python in a subprocess, on a copy of the package
in tmp_path, with HOME, XDG_CACHE_HOME, TMPDIR and NUMBA_CACHE_DIR pointed
into tmp_path.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "charrnn"
KEYED = re.compile(r"charrnn-[0-9a-f]{16}")
DAY = 24 * 3600

# Two kernels in two modules: Numba compiles value() into call(), and its own
# cache would only check _probe_caller.py for changes.
CALLEE = "from charrnn.kernels.jit import kernel\n\n\n@kernel\ndef value():\n    return 1\n"
CALLER = (
    "from charrnn.kernels.jit import kernel\n"
    "from charrnn.kernels._probe_callee import value\n\n\n"
    "@kernel\ndef call(x):\n    return x + value()\n"
)

CONFIGURE = "import charrnn.kernels.cache as c; print(c.configure())"
PROBE = """
import json, charrnn, numba
import charrnn.kernels.cache as c
from charrnn.kernels._probe_caller import call
result = int(call(10))
print(json.dumps({"dir": c.configure(), "value": result, "package": charrnn.__file__,
                  "numba_dir": numba.core.config.CACHE_DIR,
                  "hits": sum(call.stats.cache_hits.values()),
                  "misses": sum(call.stats.cache_misses.values())}))
"""


@pytest.fixture
def src(tmp_path):
    """A copy of the charrnn package, with the two probe kernels; its parent directory."""
    root = tmp_path / "src"
    shutil.copytree(PACKAGE, root / "charrnn", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "charrnn/kernels/_probe_callee.py").write_text(CALLEE)
    (root / "charrnn/kernels/_probe_caller.py").write_text(CALLER)
    return root


@pytest.fixture
def env(tmp_path, src):
    """An environment with every cache location inside tmp_path, none of NUMBA_* set."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "CHARRNN_", "PYTHON"))
    }
    for name in ("home", "xdg", "tmp"):
        (tmp_path / name).mkdir()
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
        TMPDIR=str(tmp_path / "tmp"),
        PYTHONPATH=str(src),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run(code, env, cwd):
    """The last line printed by `python -c code`, run in cwd (away from /work/main: the copy)."""
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def probe(env, cwd):
    out = json.loads(run(PROBE, env, cwd))
    assert out["package"].startswith(str(cwd)), out  # the copy, not the installed package
    assert out["numba_dir"] == out["dir"]
    return out


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_explicit_numba_cache_dir_is_the_base(tmp_path, env):
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "explicit")
    d = Path(run(CONFIGURE, env, tmp_path))
    assert d.parent == tmp_path / "explicit" and KEYED.fullmatch(d.name)
    assert d.is_dir() and not any((tmp_path / "xdg").iterdir())


def test_xdg_cache_home_then_home(tmp_path, env):
    d = Path(run(CONFIGURE, env, tmp_path))
    assert d.parent == tmp_path / "xdg/charrnn/numba" and KEYED.fullmatch(d.name)
    del env["XDG_CACHE_HOME"]
    assert Path(run(CONFIGURE, env, tmp_path)) == tmp_path / "home/.cache/charrnn/numba" / d.name


@pytest.mark.parametrize("explicit", [False, True])
def test_child_process_uses_the_same_directory(tmp_path, env, src, explicit):
    if explicit:
        env["NUMBA_CACHE_DIR"] = str(tmp_path / "explicit")
    # A second copy with other sources: another charrnn version run as a child.
    other = tmp_path / "other"
    shutil.copytree(src, other)
    with open(other / "charrnn/kernels/tiles.py", "a") as f:
        f.write("# another version\n")
    parent = f"""
import os, subprocess, sys
import charrnn.kernels.cache as c  # charrnn.kernels configures the cache at import
child = "import charrnn.kernels.cache as c; print(c.configure())"
same = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
env = dict(os.environ, PYTHONPATH={str(other)!r})
version = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True,
                         check=True)
print(c.configure(), same.stdout.strip(), version.stdout.strip())
"""
    mine, child, other_version = map(Path, run(parent, env, tmp_path).split())
    base = tmp_path / ("explicit" if explicit else "xdg/charrnn/numba")
    assert mine.parent == base and child == mine
    assert other_version.parent == base and other_version != mine  # a sibling, not nested


def test_key_follows_the_sources_of_compiled_code_and_nothing_else(tmp_path, env, src):
    def directory():
        return run(CONFIGURE, env, tmp_path)

    first = directory()
    assert directory() == first
    tiles = src / "charrnn/kernels/tiles.py"
    original = tiles.read_bytes()
    tiles.write_bytes(original + b"# edited\n")
    edited = directory()
    assert edited != first
    tiles.write_bytes(original)  # contents count, not modification times
    assert directory() == first
    (src / "charrnn/notes.txt").write_text("not a source")
    (src / "charrnn/cells/__pycache__").mkdir(exist_ok=True)
    (src / "charrnn/cells/__pycache__/stale.py").write_text("x = 1\n")
    with open(src / "charrnn/cli.py", "a") as f:  # the commands compile nothing
        f.write("# edited\n")
    (src / "charrnn/data/extra.py").write_text("")
    assert directory() == first
    (src / "charrnn/cells/extra.py").write_text("")
    added = directory()
    (src / "charrnn/cells/extra.py").rename(src / "charrnn/cells/renamed.py")
    renamed = directory()
    assert len({first, edited, added, renamed}) == 4


def test_every_module_with_compiled_code_is_in_the_key():
    """A module outside COMPILED_SOURCES that defines or imports kernels would be
    served stale from the cache after an edit."""
    from charrnn.kernels.cache import compiled_sources

    hashed = set(compiled_sources())
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        compiles = re.search(
            r"^\s*@(kernel|parallel_kernel|inline|njit|numba\.)|"
            r"kernels\.jit import|from \.jit import|register_step\(",
            text,
            re.MULTILINE,
        )
        if compiles:
            assert rel in hashed, f"{rel} has compiled code but is not in the cache key"


def test_edited_callee_is_not_served_stale(tmp_path, env, src):
    first = probe(env, tmp_path)
    assert first["value"] == 11 and first["misses"] == 1
    again = probe(env, tmp_path)
    assert again["value"] == 11 and again["hits"] == 1  # the cache is used...
    callee = src / "charrnn/kernels/_probe_callee.py"
    callee.write_text(CALLEE.replace("return 1", "return 2"))
    edited = probe(env, tmp_path)
    assert edited["value"] == 12 and edited["dir"] != first["dir"]  # ...but not when stale
    assert probe(env, tmp_path) == dict(edited, hits=1, misses=0)


def test_old_caches_are_pruned(tmp_path, env):
    base = tmp_path / "explicit"
    env["NUMBA_CACHE_DIR"] = str(base)
    current = Path(run(CONFIGURE, env, tmp_path))
    now = time.time()

    def cache(name, age_days, stamp=True):
        d = base / name
        d.mkdir()
        (d / "index.nbi").write_text("")
        used = d / ".used" if stamp else d
        if stamp:
            used.write_text("")
        os.utime(used, (now - age_days * DAY,) * 2)
        return d

    os.utime(current / ".used", (now - 100 * DAY,) * 2)  # current: never deleted, however old
    recent = [cache("charrnn-recent1", 1), cache("charrnn-recent2", 6)]
    old = [cache(f"charrnn-old{i}", 10 + i) for i in range(4)]
    unstamped = cache("charrnn-unstamped", 50, stamp=False)
    unrelated = cache("other-old", 100)
    (base / "charrnn-file").write_text("not a directory")
    os.utime(base / "charrnn-file", (now - 100 * DAY,) * 2)

    assert Path(run(CONFIGURE, env, tmp_path)) == current
    assert current.is_dir() and (current / ".used").stat().st_mtime > now - 60
    # Kept: used within 7 days, or among the 3 most recently used others.
    survivors = {p.name for p in base.iterdir()}
    assert survivors == {
        current.name,
        "charrnn-recent1",
        "charrnn-recent2",
        "charrnn-old0",
        "other-old",
        "charrnn-file",
    }
    assert not unstamped.exists() and not any(d.exists() for d in old[1:]) and unrelated.exists()
    assert recent[0].exists() and recent[1].exists()


def test_unwritable_base_falls_back_to_the_temporary_directory(tmp_path, env):
    (tmp_path / "file").write_text("a regular file, not a directory")
    env.update(NUMBA_CACHE_DIR=str(tmp_path / "file/numba"))
    out = probe(env, tmp_path)
    fallback = tmp_path / f"tmp/charrnn-numba-{os.getuid()}"
    assert out["value"] == 11 and Path(out["dir"]).parent == fallback
    assert list(Path(out["dir"]).rglob("*.nbi")) and list(Path(out["dir"]).rglob("*.nbc"))
    # No explicit directory, and no writable home: the same fallback.
    del env["NUMBA_CACHE_DIR"]
    env.update(XDG_CACHE_HOME=str(tmp_path / "file/xdg"), HOME=str(tmp_path / "file/home"))
    assert probe(env, tmp_path) == dict(out, hits=1, misses=0)


def test_temporary_fallback_owned_by_someone_else_is_refused(tmp_path, env):
    (tmp_path / "file").write_text("")
    env.update(XDG_CACHE_HOME=str(tmp_path / "file/xdg"), HOME=str(tmp_path / "file/home"))
    planted = tmp_path / f"tmp/charrnn-numba-{os.getuid()}"
    planted.mkdir(mode=0o777)
    os.chmod(planted, 0o777)  # anyone could put pickled code in there
    assert run(CONFIGURE, env, tmp_path) == "None"
    assert not any(planted.iterdir())


def test_nothing_writable_leaves_numba_without_a_cache_directory(tmp_path, env):
    (tmp_path / "file").write_text("")
    env.update(NUMBA_CACHE_DIR=str(tmp_path / "file/numba"), HOME=str(tmp_path / "file/home"))
    code = f"""
import tempfile; tempfile.tempdir = {str(tmp_path / "file/tmp")!r}
import charrnn.kernels, numba
import charrnn.kernels.cache as c
print(c.configure(), repr(numba.core.config.CACHE_DIR))
"""
    assert run(code, env, tmp_path) == "None ''"


def test_read_only_installation_gets_nothing_written_next_to_the_sources(tmp_path, env, src):
    before = files(src)
    out = probe(env, tmp_path)
    assert probe(env, tmp_path)["hits"] == 1
    assert files(src) == before  # no __pycache__/*.nbi, *.nbc (nor .pyc: PYTHONDONTWRITEBYTECODE)
    assert Path(out["dir"]).is_relative_to(tmp_path / "xdg")


def test_concurrent_compiles_into_a_fresh_directory(tmp_path, env):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert {r["value"] for r in results} == {11} and len({r["dir"] for r in results}) == 1
    assert not [p for p in Path(results[0]["dir"]).rglob("*") if ".tmp." in p.name]
    assert probe(env, tmp_path)["hits"] == 1


# Each process compiles call() for a type of its own, all at the same moment.
RACE = """
import os, sys, time
import numpy as np
import charrnn.kernels.cache as c
from charrnn.kernels._probe_caller import call
value = {kind!r}
x = {{"int": 10, "float": 10.5, "complex": 10 + 1j, "int32": np.int32(10), "float32":
     np.float32(10.5), "uint8": np.uint8(10)}}[value]
print("ready", flush=True)
while not os.path.exists({go!r}):
    time.sleep(0.001)
print(repr(call(x)))
"""
KINDS = {
    "int": "11",
    "float": "11.5",
    "complex": "(11+1j)",
    "int32": "11",
    "float32": "11.5",
    "uint8": "11",
}


def test_concurrent_compiles_of_different_signatures_keep_the_index_right(tmp_path, env):
    """Numba alone names two signatures' cache files alike when they are saved at
    once, and its index can then point one signature at the other's code."""
    for attempt in range(3):
        go = tmp_path / f"go{attempt}"
        procs = {
            kind: subprocess.Popen(
                [sys.executable, "-c", RACE.format(kind=kind, go=str(go))],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for kind in KINDS
        }
        for p in procs.values():
            assert p.stdout.readline().strip() == "ready", p.communicate()
        go.write_text("")
        for kind, p in procs.items():
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0 and out.strip() == KINDS[kind], err
        # a new process finds every signature in the cache, each with its own code
        check = (
            "import numpy as np\nfrom charrnn.kernels._probe_caller import call\n"
            "xs = [10, 10.5, 10 + 1j, np.int32(10), np.float32(10.5), np.uint8(10)]\n"
            "print(repr([repr(call(x)) for x in xs]), "
            "sum(call.stats.cache_misses.values()))"
        )
        assert run(check, env, tmp_path) == f"{list(KINDS.values())!r} 0"
        for entry in Path(tmp_path / "xdg").rglob("*.nbc"):
            entry.unlink()  # the next attempt races again
        for entry in Path(tmp_path / "xdg").rglob("*.nbi"):
            entry.unlink()


def test_no_cached_kernel_is_called_from_compiled_code_with_a_parallel_loop_below():
    """kernels/jit.py, inner_kernel: a cached kernel with a prange loop in it or
    below it must be called from Python only; compiled callers get uncached
    (inner) kernels on their way to a parallel loop."""
    import ast

    decorators, calls = {}, []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                names = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
                decorators[node.name] = names
                for call in ast.walk(node):
                    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                        calls.append((node.name, call.func.id))
    compiled = {"kernel", "parallel_kernel", "inner_kernel", "inner_parallel_kernel", "inline"}
    parallel = {
        n for n, d in decorators.items() if d & {"parallel_kernel", "inner_parallel_kernel"}
    }
    below = set(parallel)  # kernels with a parallel loop in them or in what they call
    while True:
        more = {
            caller
            for caller, callee in calls
            if callee in below and decorators.get(caller, set()) & compiled
        } - below
        if not more:
            break
        below |= more
    for caller, callee in calls:
        if callee in below and decorators.get(caller, set()) & compiled:
            assert decorators[callee] & {"inner_kernel", "inner_parallel_kernel", "inline"}, (
                f"{caller} (compiled) calls {callee}, cached with a parallel loop below it"
            )
    assert "_split_outputs" in parallel and "model_step" in below  # the analysis sees them
