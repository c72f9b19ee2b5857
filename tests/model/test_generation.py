import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charrnn import cells
from charrnn.checkpoint import Checkpoint
from charrnn.data.corpus import Vocabulary
from charrnn.errors import CharrnnError
from charrnn.decode import choose, generation_weights, model_step, scratch, top_indices
from charrnn.kernels.rows import add_product, packed, packed_columns
from charrnn.model import ModelConfig, forward, init_params, zero_state
from charrnn.sample import beam_text, primed_state, sample_text

CELLS = list(cells.CELLS)


def random_checkpoint(rng, chars="abc", hidden=8, layers=2, scale=3.0, cell="lstm"):
    cfg = ModelConfig(vocab_size=len(chars), hidden=hidden, layers=layers, cell=cell)
    params = init_params(cfg, rng) * np.float32(scale)  # sharper, less tied distributions
    return Checkpoint(model=cfg, vocab=Vocabulary(chars), params=params)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("hidden", [12, 64])
def test_model_step_matches_forward(cell, hidden, rng):
    """Generation's single step against the training forward over a chunk;
    at 64 units every product runs on the packed tiles."""
    ckpt = random_checkpoint(rng, "abcdefg", hidden=hidden, layers=3, scale=1.0, cell=cell)
    m = ckpt.model
    ids = rng.integers(0, 7, (9, 2))
    state = zero_state(m, 2)
    _, final, _ = forward(ckpt.params, m, ids, ids, state)
    weights = generation_weights(ckpt.params, m)
    work, logits = scratch(weights, 2)
    for t in range(9):
        model_step(weights, ids[t].astype(np.int64), state, work, logits)
    np.testing.assert_allclose(state, final, atol=1e-5)


def sequence_logprob(ckpt, prime, continuation):
    """log P(continuation | prime), computed with the training forward pass."""
    m = ckpt.model
    ids = ckpt.vocab.encode(prime + continuation).astype(np.int64)
    state = zero_state(m, 1)
    losses = []
    for t in range(len(ids) - 1):
        loss, state, _ = forward(
            ckpt.params, m, ids[t : t + 1, None], ids[t + 1 : t + 2, None], state
        )
        losses.append(loss)
    return -sum(losses[len(prime) - 1 :])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("seed", range(3))
def test_beam_covering_all_sequences_finds_the_most_probable(cell, seed):
    rng = np.random.default_rng(seed)
    ckpt = random_checkpoint(rng, cell=cell)
    length, prime = 4, "ab"
    width = len(ckpt.vocab) ** length  # every sequence fits in the beam
    scores = {
        "".join(s): sequence_logprob(ckpt, prime, "".join(s))
        for s in itertools.product(ckpt.vocab.chars, repeat=length)
    }
    ranked = sorted(scores, key=scores.get, reverse=True)
    assert scores[ranked[0]] - scores[ranked[1]] > 1e-4  # a clear winner to find
    text, log_probability = beam_text(ckpt, length, width, prime=prime)
    assert text == ranked[0]
    assert log_probability == pytest.approx(scores[text], abs=1e-4)


@pytest.mark.parametrize("cell", CELLS)
def test_beam_of_one_is_greedy(cell, rng):
    ckpt = random_checkpoint(rng, "abcdef", scale=1.5, cell=cell)
    greedy = "".join(sample_text(ckpt, 60, greedy=True, prime="ab"))
    assert beam_text(ckpt, 60, 1, prime="ab")[0] == greedy


def test_wider_beam_is_never_less_probable(rng):
    ckpt = random_checkpoint(rng, "abcdef", scale=1.5)
    narrow, narrow_logp = beam_text(ckpt, 12, 1, prime="a")
    wide, wide_logp = beam_text(ckpt, 12, 7, prime="a")
    assert sequence_logprob(ckpt, "a", wide) >= sequence_logprob(ckpt, "a", narrow) - 1e-4
    assert wide_logp == pytest.approx(sequence_logprob(ckpt, "a", wide), abs=1e-4)


def test_beam_cut_at_stop_reports_the_log_probability_of_what_it_returns(rng):
    ckpt = random_checkpoint(rng, "abcdef", scale=1.5)
    full, _ = beam_text(ckpt, 12, 3, prime="a")
    stop = full[4:6]
    cut, logp = beam_text(ckpt, 12, 3, prime="a", stop=stop)
    assert cut == full[: full.index(stop) + len(stop)] and len(cut) < len(full)
    assert logp == pytest.approx(sequence_logprob(ckpt, "a", cut), abs=1e-4)


def test_seed_makes_sampling_deterministic(rng):
    ckpt = random_checkpoint(rng, "abcdef", scale=1.0)
    one = "".join(sample_text(ckpt, 600, seed=5))
    assert one == "".join(sample_text(ckpt, 600, seed=5))
    assert one != "".join(sample_text(ckpt, 600, seed=6))


def test_top_k_one_is_greedy(rng):
    ckpt = random_checkpoint(rng, "abcdef", scale=1.0)
    assert "".join(sample_text(ckpt, 50, top_k=1, seed=1)) == "".join(
        sample_text(ckpt, 50, greedy=True)
    )


def test_choose_follows_the_distribution():
    scores = np.log(np.array([0.1, 0.2, 0.7], np.float32))
    uniforms = (np.arange(1000) + 0.5) / 1000
    picks = np.array([choose(scores, 1.0, 0, u) for u in uniforms])
    np.testing.assert_allclose(np.bincount(picks, minlength=3) / 1000, [0.1, 0.2, 0.7], atol=2e-3)
    picks = np.array([choose(scores, 1.0, 2, u) for u in uniforms])  # top 2: 0.2 and 0.7
    np.testing.assert_allclose(np.bincount(picks, minlength=3) / 1000, [0, 2 / 9, 7 / 9], atol=2e-3)
    cold = np.array([choose(scores, 0.05, 0, u) for u in uniforms])
    assert (cold == 2).mean() > 0.99


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(1, 600),
    temperature=st.floats(0.05, 3.0),
    top_k=st.integers(0, 8),
    stop=st.one_of(st.none(), st.sampled_from(["a", "ca", "\n", "zzz"])),
    seed=st.integers(0, 9),
)
def test_sampling_returns_length_characters_or_stops(length, temperature, top_k, stop, seed):
    ckpt = random_checkpoint(np.random.default_rng(0), "abc\n", scale=1.0)
    text = "".join(sample_text(ckpt, length, temperature, top_k, seed=seed, stop=stop))
    assert set(text) <= set(ckpt.vocab.chars)
    if stop and stop in text:
        assert text.endswith(stop) and text.index(stop) == len(text) - len(stop)
        assert len(text) <= length
    else:
        assert len(text) == length


def test_prime_is_read_before_sampling(rng):
    ckpt = random_checkpoint(rng, "abcdef", scale=2.0)
    assert "".join(sample_text(ckpt, 30, greedy=True, prime="abc")) != "".join(
        sample_text(ckpt, 30, greedy=True, prime="fed")
    )
    state, logits = primed_state(ckpt, generation_weights(ckpt.params, ckpt.model), "abc", rng)
    assert np.isfinite(logits).all() and np.abs(state).max() > 0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(length=0), "--length"),
        (dict(length=5, temperature=0), "--temperature"),
        (dict(length=5, temperature=-1), "--temperature"),
        (dict(length=5, top_k=-2), "--top-k"),
        (dict(length=5, prime="abz!"), r"never saw: '!', 'z'"),
    ],
)
def test_bad_sampling_options(kwargs, message, rng):
    ckpt = random_checkpoint(rng, "abc")
    with pytest.raises(CharrnnError, match=message):
        "".join(sample_text(ckpt, **kwargs))


def test_bad_beam_width(rng):
    with pytest.raises(CharrnnError, match="--beam"):
        beam_text(random_checkpoint(rng), 5, 0)


@pytest.mark.parametrize(
    "K,D,N",
    [
        (1, 5, 9),
        (2, 16, 8),
        (3, 7, 13),
        (7, 64, 256),
        (1, 512, 1027),
        (7, 300, 1025),
        (11, 256, 1024),
    ],
)
def test_add_product_matches_numpy(K, D, N, rng):
    x = rng.standard_normal((K, D)).astype(np.float32)
    w = rng.standard_normal((D, N)).astype(np.float32)
    out = rng.standard_normal((K, packed_columns(N))).astype(np.float32)
    expected = out[:, :N] + x @ w
    add_product(x, packed(w), out)  # big ones are split among threads
    np.testing.assert_allclose(out[:, :N], expected, rtol=1e-5, atol=2e-6 * D)  # sums of D terms


@given(st.lists(st.integers(-3, 3), min_size=1, max_size=40), st.integers(1, 8))
def test_top_indices_is_a_stable_sort_cut(values, k):
    values = np.array(values, np.float64)
    k = min(k, len(values))
    out = np.empty(k, np.int64)
    top_indices(values, out)
    np.testing.assert_array_equal(out, np.argsort(-values, kind="stable")[:k])


def test_generation_from_the_cache_of_other_model_shapes(tmp_path, rng):
    """Processes one after another on one fresh compiled-code cache, as a user
    samples models of different depths: the third process loads what the
    second compiled where the first had filled the cache (kernels/jit.py,
    inner_kernel: this crashed with a segmentation fault)."""
    from charrnn.checkpoint import save

    for layers in (1, 2):
        save(str(tmp_path / f"l{layers}.npz"), random_checkpoint(rng, "abcdef", layers=layers))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("CHARRNN_NUMBA_CACHE_BASE", None)
    outputs = []
    for name, extra in [
        ("l1", []),
        ("l2", []),
        ("l2", []),
        ("l2", ["--beam", "3"]),
        ("l2", ["--beam", "3"]),
        ("l1", ["--beam", "2"]),
    ]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "charrnn",
                "sample",
                str(tmp_path / f"{name}.npz"),
                "-n",
                "30",
                "--seed",
                "1",
            ]
            + extra,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (name, extra, result.returncode, result.stderr[-2000:])
        outputs.append(result.stdout)
    assert outputs[1] == outputs[2] and outputs[3] == outputs[4]  # compiled == loaded
