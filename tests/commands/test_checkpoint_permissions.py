"""Checkpoints get the permissions the user's umask gives a new file."""

import os

import pytest

from command_helpers import TINY, ok, step_names


@pytest.mark.parametrize(
    "mask,mode", [(0o002, 0o664), (0o077, 0o600)], ids=["umask002", "umask077"]
)
def test_checkpoints_get_the_permissions_of_the_umask(tmp_path, corpus_file, mask, mode):
    out = tmp_path / "run"
    old = os.umask(mask)
    try:
        ok(["train", corpus_file, "--out", out, "--max-steps", "4", "--eval-every", "2"] + TINY)
    finally:
        os.umask(old)
    names = sorted(os.listdir(out))
    assert {"best.npz", "last.npz"} <= set(names) and len(step_names(out)) == 2
    assert {name: oct((out / name).stat().st_mode & 0o777) for name in names} == {
        name: oct(mode) for name in names
    }
