"""Files vemd writes get the user's umask (0o666 & ~umask), also those written atomically by
rename from a temporary file (which tempfile would create 0600)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vemd.cli import main
from vemd.io import atomic_write_text


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_text_file_has_the_umask_mode(tmp_path, umask):
    path = tmp_path / "report.json"
    atomic_write_text(path, "{}")
    assert _mode(path) == 0o666 & ~umask
    atomic_write_text(path, "{}")  # replacing keeps it
    assert _mode(path) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left


def test_every_file_of_a_synth_dataset_has_the_umask_mode(tmp_path, umask):
    out = tmp_path / "synth"
    args = ["synth", "--out", str(out), "--n-train", "3", "--n-val", "3", "--frames", "1"]
    assert main([*args, "--image-size", "64", "--max-people", "2"]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".npz" for p in files) and any(p.name == "manifest.csv" for p in files)
    assert {str(p.relative_to(out)): oct(_mode(p)) for p in files} == {
        str(p.relative_to(out)): oct(0o666 & ~umask) for p in files
    }
