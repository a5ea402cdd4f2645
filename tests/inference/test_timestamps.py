"""Prediction windows and durations come from presentation timestamps, a video cut without a frame
count in its header is said to be truncated, and inputs that are not media files (text, pipes,
symlink loops) are refused with one line, through the API and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tests.data import bad_media

from vemd.data.media import frame_times, probe
from vemd.errors import DataError
from vemd.inference.predictor import GroupEmotionPredictor


@pytest.fixture(scope="module")
def predictor(model_file):
    return GroupEmotionPredictor(model_file, window=5.0)


def _shown_within(path, windows) -> None:
    """Every frame a window samples is shown during that window."""
    info = probe(path)
    times = info.times or frame_times(path)
    ends = np.append(times.starts[1:], times.end)
    for w in windows:
        for i in w.indices:
            assert times.starts[i] < w.end + 1e-6 and ends[i] > w.start - 1e-6, (w, i, times.starts[i])


@pytest.mark.parametrize(("name", "format"), [("vfr.mkv", "matroska"), ("vfr.mp4", "mp4")])
def test_variable_frame_rate_windows_span_equal_times(predictor, tmp_path, name, format):
    path = bad_media.timed_video(tmp_path, bad_media.vfr_times(80, 16.9), name, format=format)
    windows, duration = predictor.windows(path)
    assert duration == pytest.approx(16.94, abs=0.01)
    assert [(w.start, w.end) for w in windows] == [(0, 5), (5, 10), (10, 15)]  # the 1.9 s left: not half full
    _shown_within(path, windows)


def test_a_webm_declaring_1000_fps_is_cut_by_its_timestamps(predictor, tmp_path):
    times = [float(k) for k in range(60)]  # one frame a second, millisecond timestamps
    path = bad_media.timed_video(tmp_path, times, "ms.webm", format="webm", codec="libvpx", rate=1000)
    result = predictor.predict(path)
    assert result.duration == pytest.approx(59, abs=0.01)
    assert len(result.windows) == 12 and result.windows[-1].end == pytest.approx(59, abs=0.01)
    _shown_within(path, predictor.windows(path)[0])


def test_a_constant_rate_video_keeps_its_frame_windows(model_file, tmp_path):
    path = bad_media.video(tmp_path, 40)  # 4 s at 10 fps
    predictor = GroupEmotionPredictor(model_file, window=1.0, stride=0.5)
    windows, duration = predictor.windows(path)
    assert duration == pytest.approx(4.0)
    assert [w.start for w in windows] == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5, 3])
    frames = predictor.frames
    for w in windows:  # the centres of equal segments of the window's 10 frames, as sample_indices gives
        first = round(w.start * 10)
        assert w.indices == [first + int((k + 0.5) * 10 / frames) for k in range(frames)]


@pytest.mark.parametrize(("maker", "end"), [("cut_mkv", 2.4), ("corrupt_mkv", 3.0)])
def test_a_video_cut_without_a_frame_count_is_one_notice(model_file, tmp_path, maker, end):
    path = getattr(bad_media, maker)(tmp_path)
    notices: list[str] = []
    result = GroupEmotionPredictor(model_file, window=1.0, notify=notices.append).predict(path)
    assert notices == [
        f"{path}: truncated video: header says 6.0 s, its frames end at {end:.1f} s; predicting over those"
    ]
    assert result.duration == pytest.approx(end, abs=0.05)
    assert result.windows[-1].end <= end + 0.05


def test_a_whole_mkv_gives_no_notice(model_file, tmp_path):
    path = bad_media.timed_video(tmp_path, [k / 10 for k in range(60)], "whole.mkv", rate=10)
    notices: list[str] = []
    result = GroupEmotionPredictor(model_file, window=1.0, notify=notices.append).predict(path)
    assert notices == [] and result.duration == pytest.approx(6.0, abs=0.05)


# ---------------------------------------------------------------- inputs that are not media files


def test_the_api_refuses_a_text_file(predictor, tmp_path):
    path = bad_media.text_file(tmp_path)
    with pytest.raises(DataError) as err:
        predictor.predict(path)
    assert str(err.value).startswith(f"{path}: not an image") and "\n" not in str(err.value)


@pytest.mark.timeout(60)
def test_the_api_refuses_a_named_pipe_without_opening_it(predictor, tmp_path):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)  # no writer: opening it would block
    with pytest.raises(DataError, match="a named pipe, not a file"):
        predictor.predict(fifo)
    with pytest.raises(DataError, match="a named pipe, not a file"):
        predictor.predict([fifo])


def test_the_api_names_a_symlink_loop(predictor, tmp_path):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match="symlink loop"):
        predictor.predict(loop)


@pytest.mark.timeout(120)
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for process substitution")
@pytest.mark.parametrize(
    "command",
    [
        '$VEMD predict --ckpt "$MODEL" <(cat "$CLIP")',
        'cat "$CLIP" | $VEMD predict --ckpt "$MODEL" /dev/stdin',
    ],
)
def test_the_cli_refuses_a_pipe_in_one_line_and_does_not_hang(model_file, tmp_path, command):
    clip = bad_media.video(tmp_path, 10)
    env = {**os.environ, "VEMD": f"{sys.executable} -m vemd.cli", "MODEL": str(model_file), "CLIP": str(clip)}
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=90)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and "a named pipe, not a file" in lines[0], lines
