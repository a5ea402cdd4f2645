"""vemd.io: a folder lock that leaves nothing behind, and a write that never replaces."""

from __future__ import annotations

import pytest

from vemd.io import FolderBusy, atomic_write, locked_folder


def test_a_locked_folder_excludes_a_second_holder_and_leaves_no_file(tmp_path):
    second = locked_folder(tmp_path, wait=False, busy="writing it")
    with locked_folder(tmp_path), pytest.raises(FolderBusy, match=f"^{tmp_path}: writing it$"):
        second.__enter__()
    with locked_folder(tmp_path, wait=False):  # released when the block ends
        pass
    assert list(tmp_path.iterdir()) == []


def test_an_atomic_write_that_may_not_replace_keeps_the_file_there(tmp_path):
    path = tmp_path / "shard.npz"
    atomic_write(path, lambda h: h.write(b"first"), replace=False)
    with pytest.raises(FileExistsError):
        atomic_write(path, lambda h: h.write(b"second"), replace=False)
    assert path.read_bytes() == b"first" and list(tmp_path.iterdir()) == [path]
