"""The child process of test_checkpoint_fuzz.py: trains a tiny model, measures
its own address space, limits it (RLIMIT_AS), then lets hypothesis mutate the
members of that model's checkpoint (and of a version-1 one, tests/fixtures/v1)
and runs every command that reads checkpoints on each mutant, in this
process, through click's CliRunner, and the library's charrnn.load.

    python checkpoint_fuzz_child.py WORKDIR EXAMPLES

Prints one JSON object: examples, calls, seconds, the limit, and the failures:
calls that neither succeeded nor ended in a one-line error (exit code 1, one
line on stderr, no traceback), each with the mutation that made them.
"""

import json
import os
import resource
import shutil
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import charrnn
from charrnn.cli import main
from charrnn.errors import CharrnnError
from charrnn.model import ModelConfig, param_count

sys.path.insert(0, str(Path(__file__).parent.parent))  # run as a script: tests/ for its helpers
from checkpoint_files import declare_size, huge_npy_header, members_of, write_members  # noqa: E402

V1_RUN = Path(__file__).parent.parent / "fixtures" / "v1"
TEXT = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(60))
TINY = ["--hidden", "16", "--layers", "1", "--batch-size", "2", "--seq-length", "8"]
QUICK = ["--quiet", "--eval-every", "2", "--threads", "1"]
DTYPES = ["<f2", "<f4", "<f8", ">f4", "<i4", "<i8", "|u1", "|b1", "<c8", "<U5", "|O"]
RANKS = [(), (1,), (1, 1), (-1, 1), (1, -1), (1, 1, 1, 1, 1)]
JSON_MEMBERS = ["model_config", "train_config", "schedule", "rng_state"]
JSON_KEYS = [
    *("vocab_size", "hidden", "layers", "dropout", "cell"),  # model_config's
    *("batch_size", "seq_length", "optimizer", "threads", "keep", "max_time", "lr"),
    *("steps_per_epoch", "corpus", "corpus_chars"),  # train_config's
    *("name", "peak_lr", "done", "state", "bit_generator", "new"),  # schedule's, rng_state's
]
NUMBER_MEMBERS = [
    *("step", "epoch", "batch_index", "chars", "lr", "seconds", "best_val", "format_version")
]
NUMBERS = [-1, 0, 1, 7, 10**9, 2**62, 2**63 - 1, -(2**63), 0.5, -0.0, float("nan"), float("inf")]
FLOAT_MEMBERS = ["params", "optimizer_m", "optimizer_v", "state", "train_history", "val_history"]
MODEL_SIZES = [
    *(("layers", 100_000), ("layers", 10**12), ("layers", 2000), ("layers", 3)),
    *(("hidden", 10**6), ("hidden", 17), ("vocab_size", 2), ("vocab_size", 2**31)),
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_subnormal=False)  # charrnn's kernels flush subnormals
    | st.sampled_from(NUMBERS)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def mutations(names):
    """One change to a checkpoint's members: (kind, member, argument)."""
    anywhere = st.sampled_from(names)
    return st.one_of(
        st.tuples(st.just("dtype"), anywhere, st.sampled_from(DTYPES)),
        st.tuples(st.just("rank"), anywhere, st.sampled_from(RANKS)),
        st.tuples(st.just("length"), anywhere, st.sampled_from([0, 1, -1, 3, 1000])),
        st.tuples(st.just("remove"), anywhere, st.none()),
        st.tuples(st.just("huge_header"), anywhere, st.none()),
        st.tuples(st.just("json"), st.sampled_from(JSON_MEMBERS), JSON_VALUES),
        st.tuples(
            st.just("json_entry"),
            st.sampled_from(JSON_MEMBERS),
            st.tuples(st.sampled_from(JSON_KEYS), JSON_VALUES, st.booleans()),
        ),
        st.tuples(
            st.just("number"),
            st.sampled_from(NUMBER_MEMBERS),
            st.sampled_from(NUMBERS + ["x", b"\x00"]),
        ),
        st.tuples(st.just("not_finite"), st.sampled_from(FLOAT_MEMBERS), st.none()),
        st.tuples(st.just("model_size"), st.just("model_config"), st.sampled_from(MODEL_SIZES)),
        st.tuples(st.just("scale"), st.just("params"), st.sampled_from([1e30, -1e30, 0.0])),
        st.tuples(st.just("extra"), st.just("zeros"), st.sampled_from([1 << 20, 300 << 20])),
    )


def object_in(members, name):
    """The JSON object member ``name`` holds, or None when it holds none."""
    try:
        value = json.loads(str(members[name]))
    except (KeyError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def parameters_of(cfg):
    """The parameter count of a model config, or None when the model cannot take it."""
    if not isinstance(cfg.get("layers"), int) or cfg["layers"] > 10_000:
        return None  # param_count would take its time
    try:
        return param_count(ModelConfig(**cfg))
    except Exception:  # noqa: BLE001 - any config the model refuses
        return None


def apply(members, mutation):
    """The members after one mutation (a member holds an array or raw .npy bytes)."""
    kind, member, argument = mutation
    members = dict(members)
    value = members.get(member)
    array = value if isinstance(value, np.ndarray) else None
    if kind == "remove":
        members.pop(member, None)
    elif kind == "huge_header":
        members[member] = huge_npy_header()
    elif kind == "dtype" and array is not None:
        members[member] = retyped(array, argument)
    elif kind == "rank" and array is not None:
        try:
            members[member] = array.reshape(argument)
        except ValueError:
            members[member] = np.zeros(tuple(abs(d) for d in argument), array.dtype)
    elif kind == "length" and array is not None and array.ndim:
        length = max(0, len(array) - 1 if argument < 0 else argument)
        members[member] = np.resize(array, (length,) + array.shape[1:])
    elif kind == "json":
        members[member] = np.array(json.dumps(argument))
    elif kind == "json_entry" and object_in(members, member) is not None:
        key, entry, delete = argument
        obj = object_in(members, member)
        if delete:
            obj.pop(key, None)
        else:
            obj[key] = entry
        members[member] = np.array(json.dumps(obj))
    elif kind == "number":
        members[member] = np.array(argument)
    elif kind == "not_finite" and array is not None and array.size and array.dtype.kind == "f":
        changed = array.copy()
        changed.reshape(-1)[changed.size // 2] = np.nan
        members[member] = changed
    elif kind == "model_size" and object_in(members, member) is not None:
        resize_model(members, *argument)
    elif kind == "scale" and array is not None and array.dtype.kind == "f":
        with np.errstate(over="ignore"):
            members[member] = (array * argument).astype(np.float32)
    return members


def retyped(array, dtype):
    if dtype == "|O":
        return np.array([array.tolist()], dtype=object)
    try:
        return array.astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return np.zeros(array.shape, dtype)


def resize_model(members, key, size):
    """Change the model config, and the weights' headers to agree with it."""
    cfg = object_in(members, "model_config")
    cfg[key] = size
    members["model_config"] = np.array(json.dumps(cfg))
    n = parameters_of(cfg)
    if n is not None and n < 1_000_000:  # whole arrays
        for name in ("params", "optimizer_m", "optimizer_v"):
            members[name] = np.zeros(n, np.float32)
    elif n is not None:  # a header that agrees, and little data
        members["params"] = huge_npy_header(shape=(n,))


def damage(path, how, member):
    """Cut the file short, flip a byte, or make the zip declare 4 GB for ``member``."""
    if how == "lie":
        declare_size(path, member, 2**32 - 2)
        return
    data = bytearray(open(path, "rb").read())
    if how == "truncate":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 3] ^= 0xFF
    open(path, "wb").write(bytes(data))


class Checker:
    """Runs every command that reads a checkpoint on one file; keeps the failures."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.failures = []
        self.calls = 0
        self.succeeded = {}  # command: calls that read the mutant and succeeded

    def commands(self, path, root, corpus, step):
        scratch = os.path.join(self.workdir, "scratch")
        short = os.path.join(self.workdir, f"short-{os.path.basename(corpus)}")
        if not os.path.exists(short):  # what eval and viz read: a few lines are enough
            Path(short).write_text(Path(corpus).read_text()[:300])
        return [
            ["sample", path, "-n", "20", "--seed", "1"],
            ["eval", path, short],
            ["info", path],
            ["info", path, "--json"],
            ["runs", root, "--json"],
            ["runs", root],
            ["export", path, os.path.join(scratch, "model.safetensors")],
            ["viz", path, short, "--length", "40", "--scan", "300"],
            ["train", corpus, "--resume", path, "--out", os.path.join(scratch, "run")]
            + ["--max-steps", str(step + 2), *QUICK],
        ]

    def check(self, path, root, corpus, step, what):
        for args in self.commands(path, root, corpus, step):
            os.makedirs(os.path.join(self.workdir, "scratch"), exist_ok=True)
            self.calls += 1
            result = CliRunner().invoke(main, args)
            stderr = result.stderr.strip().splitlines()
            succeeded = result.exit_code == 0 and result.exception is None
            refused = (
                result.exit_code == 1
                and isinstance(result.exception, SystemExit)
                and len(stderr) == 1
                and stderr[0].startswith("Error: ")
            )
            self.succeeded[args[0]] = self.succeeded.get(args[0], 0) + succeeded
            if not (succeeded or refused) or "Traceback" in result.output:
                self.fail(what, args[0], result.exception, result.output[-600:])
            shutil.rmtree(os.path.join(self.workdir, "scratch"))
        self.calls += 1
        try:
            charrnn.load(path)
        except CharrnnError as e:
            if "\n" in str(e):
                self.fail(what, "charrnn.load", e, str(e))
        except BaseException as e:  # noqa: BLE001 - what this looks for
            self.fail(what, "charrnn.load", e, traceback.format_exc()[-600:])

    def fail(self, what, command, exception, output):
        self.failures.append(
            {
                "mutation": what,
                "command": command,
                "exception": repr(exception)[:300],
                "output": output,
            }
        )


def bases(workdir):
    """{name: (checkpoint, its members, its corpus, its step)}: a tiny model
    trained here, and the version-1 fixture."""
    text = os.path.join(workdir, "text.txt")
    Path(text).write_text(TEXT)
    run = os.path.join(workdir, "base")
    args = ["train", text, "--out", run, *TINY, "--max-steps", "4", *QUICK]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    found = {}
    for name, path, corpus in (
        ("v2", os.path.join(run, "last.npz"), text),
        ("v1", str(V1_RUN / "run" / "last.npz"), str(V1_RUN / "play.txt")),
    ):
        members = members_of(path)
        found[name] = (path, members, corpus, int(members["step"]))
    return found


def address_space():
    """This process's virtual memory size, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def main_child(workdir, examples):
    started = time.perf_counter()
    found = bases(workdir)
    checker = Checker(workdir)
    for name, (path, _, corpus, step) in found.items():  # imports, compiles
        checker.check(path, os.path.dirname(path), corpus, step, f"{name} as it is")
    assert not checker.failures, checker.failures
    checker.calls, checker.succeeded = 0, {}
    largest = max(os.path.getsize(path) for path, *_ in found.values())
    limit = address_space() + 4 * largest + (300 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    names = sorted(set().union(*(members for _, members, _, _ in found.values())))
    count = [0]

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        st.sampled_from(sorted(found)),
        st.lists(mutations(names), min_size=1, max_size=3),
        st.booleans(),
        st.sampled_from([None, "truncate", "flip", "lie"]),
    )
    def every_mutant_is_read_or_refused_in_one_line(base, changes, deflate, how):
        count[0] += 1
        _, members, corpus, step = found[base]
        zeros = 0
        for change in changes:
            if change[0] == "extra":
                zeros = change[2]
            else:
                members = apply(members, change)
        root = os.path.join(workdir, "mutant")
        os.makedirs(os.path.join(root, "run"))
        path = os.path.join(root, "run", "last.npz")
        write_members(path, members, deflate, zeros)
        if how:
            damage(path, how, changes[0][1])
        checker.check(path, root, corpus, step, repr((base, changes, deflate, how)))
        shutil.rmtree(root)

    ready = time.perf_counter()
    every_mutant_is_read_or_refused_in_one_line()
    report = {
        "examples": count[0],
        "calls": checker.calls,
        "setup_seconds": ready - started,
        "seconds": time.perf_counter() - ready,
        "limit_mb": limit >> 20,
        "address_space_mb": address_space() >> 20,
        "succeeded": checker.succeeded,
        "failures": checker.failures,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main_child(sys.argv[1], int(sys.argv[2]))
