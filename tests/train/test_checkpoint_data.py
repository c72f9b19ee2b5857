"""Checkpoints from elsewhere are data: load reads only the members it knows,
checks every .npy header (and what the zip declares) before it reads any
data, checks every field and how the fields fit together, and turns each
problem into one line that names the file once and the member.  Memory is
measured with tracemalloc, which sees every NumPy allocation."""

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from charrnn.checkpoint import load
from charrnn.errors import CharrnnError
from charrnn.model import ModelConfig, param_count
from checkpoint_files import declare_size, huge_npy_header, members_of, write_members

V1 = Path(__file__).parent.parent / "fixtures" / "v1" / "run" / "last.npz"
TERABYTES = {  # a header declaring 2^40 values, of the dtype and rank the member has
    "params": huge_npy_header(),
    "vocab": huge_npy_header(dtype="<i4"),
    "train_history": huge_npy_header(shape=(2**39, 2), dtype="<f8"),
    "junk": huge_npy_header(),  # a member charrnn does not know
}


def mutant(path, source, zeros=0, deflate=False, **changes):
    """``source``'s members with ``changes`` (None: removed), written to ``path``."""
    members = members_of(source)
    members.update(changes)
    members = {name: value for name, value in members.items() if value is not None}
    write_members(path, members, deflate=deflate, zeros=zeros)
    return str(path)


def refused(path, words, weights=True):
    """The one-line message load gives for ``path``: it names the file once, first."""
    with pytest.raises(CharrnnError) as e:
        load(path, weights=weights)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and message.count(path) == 1, message
    assert "\n" not in message and words in message, message
    return message


def peak_bytes(call):
    """The most memory ``call()`` held at once (its exception, if any, ignored)."""
    tracemalloc.start()
    try:
        call()
    except CharrnnError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.fixture
def last(trained):
    return str(trained[0] / "last.npz")


@pytest.mark.parametrize("member", sorted(TERABYTES))
def test_a_header_declaring_a_terabyte_allocates_nothing(tmp_path, last, member):
    path = mutant(tmp_path / "c.npz", last, **{member: TERABYTES[member]})
    assert Path(path).stat().st_size < 200_000
    for weights in (True, False):  # sample's load, and info's and runs'
        if member == "junk":  # never read
            assert load(path, weights=weights).step == 30
        else:
            refused(path, f"{member}: ", weights)
        assert peak_bytes(lambda: load(path, weights=weights)) < 20e6


def test_members_charrnn_does_not_know_are_never_read(tmp_path, last):
    path = mutant(tmp_path / "c.npz", last, zeros=300 << 20)  # 300 MB in 0.3 MB
    assert Path(path).stat().st_size < Path(last).stat().st_size + 1e6
    assert peak_bytes(lambda: load(path)) < 20e6
    assert peak_bytes(lambda: load(path, weights=False)) < 20e6


def test_a_zip_that_declares_more_than_the_header_is_refused(tmp_path, last):
    path = mutant(tmp_path / "c.npz", last)
    declare_size(path, "params", 2**32 - 2)
    refused(path, "params: the zip declares 4,294,967,294 bytes")


def test_deflated_members_may_not_expand_past_a_multiple_of_the_file(tmp_path, last):
    # a model within the trainer's caps whose weights, optimizer state and
    # carried state are 100 MB of deflated zeros in a file of 0.1 MB
    members = members_of(last)
    cfg = {**json.loads(str(members["model_config"])), "hidden": 700}
    n = param_count(ModelConfig(**cfg))
    weights = {name: np.zeros(n, np.float32) for name in ("params", "optimizer_m", "optimizer_v")}
    train_config = {**json.loads(str(members["train_config"])), "hidden": 700}
    path = mutant(
        tmp_path / "c.npz",
        last,
        deflate=True,
        model_config=json_member(cfg),
        train_config=json_member(train_config),
        state=np.zeros((2, 2, 4, 700), np.float32),
        **weights,
    )
    assert Path(path).stat().st_size < 1e6 and 3 * 4 * n > 64 << 20
    refused(path, "its arrays declare")
    assert peak_bytes(lambda: load(path)) < 20e6
    assert load(path, weights=False).model.hidden == 700  # without the weights: 0.1 MB


def test_a_model_beyond_the_trainers_caps_is_refused_from_its_config(tmp_path, last):
    cfg = {**json.loads(str(members_of(last)["model_config"])), "layers": 100_000}
    n = param_count(ModelConfig(**cfg))  # 211 million: within MAX_PARAMS
    headers = {name: huge_npy_header(shape=(n,)) for name in ("params", "optimizer_m")}
    path = mutant(tmp_path / "c.npz", last, model_config=np.array(json.dumps(cfg)), **headers)
    refused(path, "model_config: layers 100,000 is not in [1, 1,000]")
    assert peak_bytes(lambda: load(path)) < 20e6
    cfg = {**cfg, "layers": 2, "hidden": 1_000_000}
    path = mutant(tmp_path / "d.npz", last, model_config=np.array(json.dumps(cfg)))
    refused(path, "parameters, more than the 500,000,000 that train allows")


def fields_of(source):
    """{name: value} of the JSON and numbers of ``source`` that the cases change."""
    members = members_of(source)
    return {
        "train_config": json.loads(str(members["train_config"])),
        "steps": len(members["train_history"]),
        "state": members["state"],
        "vocab": members["vocab"],
    }


def json_member(value):
    return np.array(json.dumps(value))


# (changes, what the message says), from the fields of the trained checkpoint.
CASES = {
    "history of the wrong rank": (
        lambda f: {"train_history": np.zeros(f["steps"])},
        "train_history: has shape (30,), not 2 dimensions",
    ),
    "train_config a list": (
        lambda f: {"train_config": json_member([1, 2])},
        "train_config: a JSON array, not an object",
    ),
    "train_config with a string for a number": (
        lambda f: {"train_config": json_member({**f["train_config"], "batch_size": "4"})},
        "train_config: batch_size is '4', not int",
    ),
    "schedule null": (lambda f: {"schedule": json_member(None)}, "schedule: a JSON null"),
    "schedule not JSON": (lambda f: {"schedule": np.array("{done")}, "schedule: not JSON"),
    "schedule's done a string": (
        lambda f: {"schedule": json_member({"name": "cosine", "peak_lr": 0.01, "done": "x"})},
        "schedule: done is 'x', not a float",
    ),
    "rng_state malformed": (
        lambda f: {"rng_state": json_member({"bit_generator": "PCG64", "state": {"state": "x"}})},
        "rng_state: not a PCG64 generator's state",
    ),
    "state of the wrong batch size": (
        lambda f: {"state": np.zeros(f["state"].shape[:2] + (3,) + f["state"].shape[3:], "f4")},
        "state: for a batch of 3, but train_config's batch_size is 4",
    ),
    "model config and train config disagree": (
        lambda f: {"train_config": json_member({**f["train_config"], "hidden": 32})},
        "train_config: --hidden 32, but model_config says 16",
    ),
    "batch index of 10^9": (
        lambda f: {"batch_index": np.array(10**9)},
        "batch_index: 1,000,000,000, but an epoch has",
    ),
    "negative step": (lambda f: {"step": np.array(-1)}, "step: -1 is not a count"),
    "vocabulary of the wrong size": (
        lambda f: {"vocab": np.array([65, 66], np.int32)},
        "vocab: has shape (2,), the model needs",
    ),
    "vocabulary out of order": (
        lambda f: {"vocab": f["vocab"][::-1].copy()},
        "vocab: not distinct code points in order",
    ),
    "weights of another dtype": (
        lambda f: {"params": np.zeros(5, np.float64)},
        "params: holds <f8, not float32",
    ),
    "a pickle": (
        lambda f: {"optimizer_m": np.array([{"a": 1}], dtype=object)},
        "optimizer_m: holds Python objects (pickle)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_field_that_does_not_fit_is_refused_naming_the_member(tmp_path, last, case):
    changes, words = CASES[case]
    path = mutant(tmp_path / "c.npz", last, **changes(fields_of(last)))
    refused(path, words)
    refused(path, words.split(":")[0] + ":", weights=False)


def test_weights_that_are_not_finite_are_refused_and_reported(tmp_path, last):
    params = members_of(last)["params"].copy()
    for bad in (np.nan, np.inf):
        params[7] = bad
        path = mutant(tmp_path / "c.npz", last, params=params)
        refused(path, "params: not finite (NaN or infinite)")
        look = load(path, weights=False)  # what info and runs read
        assert not look.finite and len(look.val_history) == 2
    m = members_of(last)["optimizer_m"].copy()
    m[0] = np.nan
    refused(mutant(tmp_path / "d.npz", last, optimizer_m=m), "optimizer_m: not finite")
    assert load(last).finite and load(last, weights=False).finite


def test_version_1_files_go_through_the_same_checks(tmp_path):
    assert load(mutant(tmp_path / "a.npz", V1, junk=TERABYTES["junk"])).format_version == 1
    params = members_of(V1)["params"].copy()
    params[0] = np.nan
    refused(mutant(tmp_path / "b.npz", V1, params=params), "params: not finite")
    h = members_of(V1)["state_h"]
    refused(mutant(tmp_path / "c.npz", V1, state_h=h[:, :3]), "state_c: has shape (2, 4, 16)")
    refused(
        mutant(tmp_path / "d.npz", V1, state_h=h[:, :3], state_c=h[:, :3]),
        "state: for a batch of 3, but train_config's batch_size is 4",
    )
    refused(mutant(tmp_path / "e.npz", V1, vocab=TERABYTES["vocab"]), "vocab: ")
    cfg = json.loads(str(members_of(V1)["model_config"]))
    refused(
        mutant(tmp_path / "f.npz", V1, model_config=json_member({**cfg, "layers": 100_000})),
        "model_config: layers 100,000",
    )
