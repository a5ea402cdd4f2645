"""``vemd fit``'s checkpoints are written in their own folder, atomically: never through TMPDIR
(Lightning's own writer saves there and moves the file, a copy across filesystems that a full
disk cuts short under the final name), and a failed write leaves the earlier checkpoint whole."""

from __future__ import annotations

import errno
import os
import stat
import tempfile

import pytest
import torch

from vemd.config import load_config
from vemd.train.fit import _trainer


def test_checkpoints_are_written_in_their_folder_and_whole_or_not_at_all(tmp_path, monkeypatch):
    folder = tmp_path / "stage2"
    writer = _trainer(
        load_config("tiny", ["train.accelerator=cpu"]), folder, max_epochs=1
    ).strategy.checkpoint_io
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-tmpdir"))  # nothing can be written there
    path = folder / "best.ckpt"
    writer.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 1
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # the user's umask, as any file

    def disk_full(checkpoint, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 the first bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        writer.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    # what a kill during a save leaves (a temporary file beside it) goes with the next save
    (folder / ".best.ckpt.0123456789abcdef.tmp").write_bytes(b"PK\x03\x04 cut short")
    writer.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 3}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 3
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
