"""``vemd predict VIDEO --out DIR --render``: the video again, with the group-level prediction drawn
on a strip along the bottom and nothing else changed; written only when asked for."""

from __future__ import annotations

import av
import numpy as np
import pytest
from tests.data import bad_media

from vemd.cli import main
from vemd.inference.render import draw_strip, strip_height

MARGIN = 8  # rows above the strip that the codec's blocks may blur into


def _frames(path) -> tuple[np.ndarray, float]:
    """(frames (T, H, W, 3) uint8, seconds from the first frame's time to the last's)."""
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    return np.stack([f.to_ndarray(format="rgb24") for f in decoded]), decoded[-1].time - decoded[0].time


def test_render_draws_the_strip_only(model_file, tmp_path, capsys):
    video = bad_media.video(tmp_path / "in", 12, "clip.mp4", fps=6)
    out = tmp_path / "out"
    assert main(["predict", str(video), "--ckpt", str(model_file), "--window", "1", "--out", str(out)]) == 0
    assert not list(out.glob("*.mp4"))  # no frame on disk unless asked for

    assert (
        main(
            ["predict", str(video), "--ckpt", str(model_file), "--window", "1", "--out", str(out), "--render"]
        )
        == 0
    )
    rendered = out / "clip.rendered.mp4"
    source, source_span = _frames(video)
    drawn, drawn_span = _frames(rendered)
    assert drawn.shape == source.shape  # same frame count and size
    assert drawn_span == pytest.approx(source_span, abs=1e-3)  # same frame times
    top = source.shape[1] - strip_height(source.shape[1])
    diff = np.abs(drawn.astype(int) - source.astype(int))
    assert diff[:, : top - MARGIN].mean() < 2  # the scene above the strip: the input's, re-encoded
    assert diff[:, top:].mean() > 20  # the strip: drawn over
    assert not list(out.glob(".*.tmp"))


def test_render_needs_out_and_notes_what_it_cannot_draw(model_file, tmp_path, capsys):
    image = bad_media.good_png(tmp_path / "in")
    assert main(["predict", str(image), "--ckpt", str(model_file), "--render"]) != 0
    assert "--render writes video files into --out DIR" in capsys.readouterr().err

    out = tmp_path / "out"
    assert main(["predict", str(image), "--ckpt", str(model_file), "--out", str(out), "--render"]) == 0
    assert "is not a video file; not rendered" in capsys.readouterr().err
    assert not list(out.glob("*.mp4"))


def test_the_strip_splits_its_bar_by_probability():
    frame = np.full((60, 200, 3), 128, np.uint8)
    draw_strip(frame, "b", {"a": 0.25, "b": 0.75})
    rows = strip_height(60)
    assert (frame[: 60 - rows] == 128).all()
    bar = frame[-2]  # the bar's bottom row: class a's colour over the first quarter, b's after
    assert (bar[10] != bar[100]).any() and (bar[10] == bar[40]).all() and (bar[60] == bar[190]).all()
