"""``vemd predict --smooth`` as the ABAW 2024 system post-processes (its §4.3): the windows'
predictions interpolated to every frame of the video, smoothed with a Hamming window, each
window read back as the mean of the smoothed series over its frames.

The tiny model's forward pass is replaced by one whose windows alternate between two sharp
predictions, so what the smoothing does is known: back-to-back 1-s windows of a 10-fps video with
the system's 0.5-s window move a window a quarter of the way towards its neighbours, far above
the result's rounding (the old reading, the series at each window's centre, gave back nearly
the window itself).
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.data import bad_media
from tests.inference.helpers import printed_results

from vemd.cli import main
from vemd.data.media import frame_times
from vemd.inference.predictor import GroupEmotionPredictor
from vemd.inference.smoothing import smooth_windows

CLASSES = ("a", "b", "c")  # the tiny model file's
SHARP = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])  # window k predicts SHARP[k % 2]


@pytest.fixture
def alternating(monkeypatch):
    """Every predictor's windows, in order, predicted as SHARP[0], SHARP[1], SHARP[0], ..."""

    def forward(self, clips, heard=None):
        first = getattr(self, "_windows_done", 0)
        self._windows_done = first + len(clips)
        return SHARP[np.arange(first, first + len(clips)) % 2], None, None

    monkeypatch.setattr(GroupEmotionPredictor, "_forward", forward)


@pytest.fixture
def video(tmp_path):
    return bad_media.video(tmp_path, 60, fps=10)  # 6 s: six 1-s windows


def _probs(windows) -> np.ndarray:
    return np.array([[w["probs"][c] for c in CLASSES] for w in windows])


def test_smoothing_reads_each_window_back_from_its_smoothed_frames(model_file, video, alternating):
    raw = GroupEmotionPredictor(model_file, window=1.0, precision="fp32").predict(video).to_dict()
    smooth = (
        GroupEmotionPredictor(model_file, window=1.0, smoothing=0.5, precision="fp32")
        .predict(video)
        .to_dict()
    )
    raw_probs, smooth_probs = _probs(raw["windows"]), _probs(smooth["windows"])
    np.testing.assert_allclose(raw_probs, SHARP[np.arange(6) % 2], atol=1e-6)
    spans = [(w["start"], w["end"]) for w in smooth["windows"]]
    assert spans == [(k, k + 1) for k in range(6)]
    starts, ends = np.array(spans, dtype=float).T
    times = frame_times(video)
    expected = smooth_windows(starts, ends, raw_probs, times.starts, rate=times.rate, seconds=0.5)
    np.testing.assert_allclose(smooth_probs, expected, atol=1e-5)
    np.testing.assert_allclose(smooth_probs.sum(1), 1, atol=1e-5)
    # the inner windows move a quarter of the way or more towards their neighbours
    moved = np.abs(smooth_probs - raw_probs).max(axis=1)
    assert (moved[1:-1] > 0.2).all(), moved
    assert [w["label"] for w in smooth["windows"]] == ["a", "b", "a", "b", "a", "b"]


def test_vemd_predict_smooth_prints_the_smoothed_timeline(model_file, video, alternating, capsys):
    runs = {}
    for name, extra in (("raw", []), ("smooth", ["--smooth", "0.5"])):
        args = [
            "predict",
            str(video),
            "--ckpt",
            str(model_file),
            "--window",
            "1",
            "--precision",
            "fp32",
            "--json",
            *extra,
        ]
        assert main(args) == 0
        (runs[name],) = printed_results(capsys.readouterr().out)
    moved = np.abs(_probs(runs["smooth"]["windows"]) - _probs(runs["raw"]["windows"])).max(axis=1)
    assert (moved[1:-1] > 0.2).all(), moved  # printed to 4 decimals: far above their rounding
