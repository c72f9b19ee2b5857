import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charrnn.data.batches import StreamBatcher, split
from charrnn.errors import CharrnnError


@settings(max_examples=200, deadline=None)
@given(length=st.integers(2, 400), batch=st.integers(1, 9), seq=st.integers(1, 12))
def test_every_character_once_per_epoch_rows_continue(length, batch, seq):
    ids = np.arange(length, dtype=np.int64)  # each id is its position
    if (length - 1) // batch < seq:
        with pytest.raises(CharrnnError, match="one batch needs"):
            StreamBatcher(ids, batch, seq)
        return
    batches = StreamBatcher(ids, batch, seq)
    seen_inputs, previous = [], None
    for k in range(len(batches)):
        inputs, targets = batches[k]
        assert inputs.shape == targets.shape and inputs.shape[1] == batch
        assert 1 <= inputs.shape[0] <= seq
        np.testing.assert_array_equal(targets, inputs + 1)  # target = the next character
        if previous is not None:  # row r continues row r of the previous batch
            np.testing.assert_array_equal(inputs[0], previous[-1])
        previous = targets
        seen_inputs.append(inputs.ravel())
    seen = np.concatenate(seen_inputs)
    assert len(np.unique(seen)) == len(seen)  # nothing repeated
    assert seen.max() <= length - 2  # no input without a target
    unused = (length - 1) - len(seen)
    assert 0 <= unused < batch  # only the remainder that fills no column
    with pytest.raises(IndexError):
        batches[len(batches)]


def test_memmap_input_gives_int32(tmp_path):
    path = tmp_path / "ids.bin"
    np.arange(100, dtype=np.uint8).tofile(path)
    ids = np.memmap(path, dtype=np.uint8, mode="r")
    inputs, targets = StreamBatcher(ids, 3, 10)[0]
    assert inputs.dtype == np.int32
    np.testing.assert_array_equal(inputs[:, 1], np.arange(33, 43))


@settings(max_examples=200, deadline=None)
@given(
    length=st.integers(4, 3000),
    val_frac=st.floats(0.001, 0.9),
    batch=st.integers(1, 8),
    seq=st.integers(1, 20),
)
def test_training_batches_never_reach_the_validation_text(length, val_frac, batch, seq):
    ids = np.arange(length)
    try:
        train, val = split(ids, val_frac)
    except CharrnnError:
        assert length - max(2, round(length * val_frac)) < 2
        return
    np.testing.assert_array_equal(np.concatenate([train, val]), ids)
    assert len(val) >= 2 and len(train) >= 2
    if (len(train) - 1) // batch < seq:
        return
    batches = StreamBatcher(train, batch, seq)
    last = max(int(batches[k][1].max()) for k in range(len(batches)))
    assert last < len(train)  # targets included: nothing from the validation text


def test_split_refuses_tiny_text():
    with pytest.raises(CharrnnError, match="too few"):
        split(np.arange(3), 0.5)
