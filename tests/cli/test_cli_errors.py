"""vemd synth and vemd annotate refuse nonsensical numbers and an --out that is a file with one
line naming the option; each source annotate cannot read is one line on stderr."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.annotate.helpers import stub_backend

from vemd.cli import main

SYNTH = ["synth", "--n-train", "3", "--n-val", "3", "--frames", "1", "--image-size", "64"]


def _one_error_line(capsys, command: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"vemd {command}: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--n-train", "-1"),
        ("--n-val", "-2"),
        ("--n-test", "-1"),
        ("--frames", "0"),
        ("--image-size", "0"),
        ("--image-size", "16"),
        ("--max-people", "0"),
        ("--max-people", "300"),
        ("--annotation-noise", "2"),
        ("--annotation-noise", "nan"),
        ("--workers", "0"),
    ],
)
def test_synth_refuses_nonsensical_numbers_naming_the_option(tmp_path, capsys, option, value):
    out = tmp_path / "synth"
    assert main([*SYNTH, "--out", str(out), option, value]) == 1
    line = _one_error_line(capsys, "synth")
    assert f"{option} {value}" in line
    assert not out.exists()  # nothing written


def test_synth_out_naming_a_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("mine")
    assert main([*SYNTH, "--out", str(out)]) == 1
    assert str(out) in _one_error_line(capsys, "synth")
    assert out.read_text() == "mine"


def _media(folder: Path) -> Path:
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((64, 48, 3), 10, np.uint8))
    (folder / "broken.png").write_bytes(b"garbage")
    (folder / "empty.mp4").write_bytes(b"")
    return folder


@pytest.mark.parametrize(("option", "value"), [("--frames", "0"), ("--frames", "-3"), ("--interval", "0")])
def test_annotate_refuses_nonsensical_sampling(tmp_path, capsys, option, value):
    media = _media(tmp_path / "media")
    extra = ["--sampling", "fps"] if option == "--interval" else []
    with stub_backend():
        code = main(
            [
                "annotate",
                str(media),
                "--out",
                str(tmp_path / "ann"),
                "--backend",
                "stub",
                *extra,
                option,
                value,
            ]
        )
    assert code == 1
    assert f"{option} {value}" in _one_error_line(capsys, "annotate")
    assert not (tmp_path / "ann").exists()


def test_annotate_out_naming_a_file_is_one_line(tmp_path, capsys):
    media = _media(tmp_path / "media")
    out = tmp_path / "taken"
    out.write_text("mine")
    with stub_backend():
        assert main(["annotate", str(media), "--out", str(out), "--backend", "stub", "--no-progress"]) == 1
    assert str(out) in _one_error_line(capsys, "annotate")
    assert out.read_text() == "mine"


def test_annotate_prints_each_failed_source_on_one_line(tmp_path, capsys):
    media = _media(tmp_path / "media")
    with stub_backend():
        assert (
            main(
                ["annotate", str(media), "--out", str(tmp_path / "ann"), "--backend", "stub", "--no-progress"]
            )
            == 3
        )
    failed = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(failed) == 2
    for name, line in zip(("broken.png", "empty.mp4"), sorted(failed)):
        assert str(media / name) in line and line.count(str(media / name)) == 1
