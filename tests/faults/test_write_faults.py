"""Faults of the machine rather than of an input: a full disk while outputs are written, a port
already taken. Each is one line naming the path or the address, exit 1, no traceback, no
temporary file left (the rule of ``harness.check``)."""

from __future__ import annotations

import errno
import os
import socket

import pytest
from tests.data import bad_media
from tests.faults.harness import ERROR, check, run_cli, snapshot


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_writing_predictions_is_one_line_naming_the_file(
    base_model, tmp_path, capfd, monkeypatch
):
    image = bad_media.good_jpeg(tmp_path / "in")
    before = snapshot(tmp_path)
    monkeypatch.setattr(os, "fsync", _disk_full)  # every atomic write finds the disk full
    outcome = run_cli(["predict", "--ckpt", base_model, image, "--out", tmp_path / "P"], capfd)
    check(
        outcome,
        "predict",
        ERROR,
        tmp_path / "P" / "predictions.json",
        folder=tmp_path,
        before=before,
        partial=("P",),
    )
    assert "No space left on device" in outcome.stderr


def test_a_full_disk_for_any_other_write_is_still_one_line(tmp_path, capfd, monkeypatch):
    from vemd import cli

    def run(args):  # a command whose write fails where no file name is known
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cli, "COMMANDS", ("summary",))
    monkeypatch.setattr("vemd.commands.summary.run", run)
    outcome = run_cli(["summary", "--config", "tiny"], capfd)
    assert outcome.code == 1 and outcome.lines() == ["vemd summary: error: No space left on device"], (
        outcome.describe()
    )


def test_a_port_in_use_is_one_line_before_the_model_loads(base_model, tmp_path, capfd):
    pytest.importorskip("uvicorn", reason="uvicorn is not installed (extra 'serve')")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = snapshot(tmp_path)
        outcome = run_cli(["serve", "--ckpt", tmp_path / "not-read.pt", "--port", port], capfd)
    check(outcome, "serve", ERROR, f"--port {port}", folder=tmp_path, before=before)
    assert "Address already in use" in outcome.stderr  # and not the missing model: the port comes first
