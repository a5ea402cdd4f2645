"""A video is predicted window by window as it is decoded (memory does not grow with its
length), in batches of windows; windows have a length and a stride; timelines can be smoothed."""

import numpy as np
import pytest
from tests.data import bad_media

from vemd.data import media
from vemd.inference import predictor as predictor_module
from vemd.inference.predictor import GroupEmotionPredictor


def _probs(window) -> list[float]:
    return list(window.probs.values())


@pytest.mark.parametrize("batch_size", [1, 2])
def test_windows_are_predicted_as_their_frames_decode(model_file, tmp_path, monkeypatch, batch_size):
    video = bad_media.video(tmp_path, 40, fps=10)  # 4 s: four 1-s windows
    predictor = GroupEmotionPredictor(model_file, window=1.0, batch_size=batch_size)
    windows, _ = predictor.windows(video)
    reference = [predictor.predict(media.read_video_frames(video, w.indices)) for w in windows]

    decoded, seen = [], []
    original = media.iter_video_frames

    def counting(path, indices):
        for number, frame in original(path, indices):
            decoded.append(number)
            yield number, frame

    forward = predictor._forward

    def spying(clips, *audio):
        seen.append((len(decoded), clips.shape[:2]))  # frames decoded when this batch runs
        return forward(clips, *audio)

    monkeypatch.setattr(predictor_module, "iter_video_frames", counting)
    predictor._forward = spying
    result = predictor.predict(video)
    assert len(result.windows) == 4
    assert [shape for _, shape in seen] == [(batch_size, predictor.frames)] * (4 // batch_size)
    # each batch runs before the next batch's frames are decoded
    per_batch = len(decoded) // len(seen)
    assert [count for count, _ in seen] == [per_batch * (k + 1) for k in range(len(seen))], (seen, decoded)
    for window, alone in zip(result.windows, reference):  # the same as each window read on its own
        np.testing.assert_allclose(_probs(window), _probs(alone), atol=1e-5)


def test_batching_windows_does_not_change_the_timeline(model_file, tmp_path):
    video = bad_media.video(tmp_path, 50, fps=10, noise=True)
    one = GroupEmotionPredictor(model_file, window=1.0, batch_size=1).predict(video)
    three = GroupEmotionPredictor(model_file, window=1.0, batch_size=3).predict(video)
    assert [(w.start, w.end) for w in one.windows] == [(w.start, w.end) for w in three.windows]
    for a, b in zip(one.windows, three.windows):
        np.testing.assert_allclose(_probs(a), _probs(b), atol=1e-5)


@pytest.mark.parametrize(
    ("frames", "window", "stride", "spans"),
    [
        (40, 1.0, None, [(0, 1), (1, 2), (2, 3), (3, 4)]),  # back to back
        (42, 1.0, None, [(0, 1), (1, 2), (2, 3), (3, 4)]),  # a tail under half a window is left out
        (47, 1.0, None, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 4.7)]),  # over half: a last, shorter window
        (40, 1.0, 0.5, [(0, 1), (0.5, 1.5), (1, 2), (1.5, 2.5), (2, 3), (2.5, 3.5), (3, 4)]),  # overlap
        (45, 2.0, 1.0, [(0, 2), (1, 3), (2, 4), (3, 4.5)]),
        (40, 1.0, 2.0, [(0, 1), (2, 3)]),  # a stride longer than the window skips spans
        (8, 2.0, None, [(0, 0.8)]),  # a video shorter than one window is one window
    ],
)
def test_windows_follow_the_length_and_stride(model_file, tmp_path, frames, window, stride, spans):
    video = bad_media.video(tmp_path, frames, fps=10)
    predictor = GroupEmotionPredictor(model_file, window=window, stride=stride)
    result = predictor.predict(video)
    got = [v for w in result.windows for v in (w.start, w.end)]
    assert got == pytest.approx([v for span in spans for v in span])
    assert result.duration == pytest.approx(frames / 10)
    planned, _ = predictor.windows(video)
    assert all(len(w.indices) == predictor.frames for w in planned)
    assert all(w.start * 10 <= i < w.end * 10 for w in planned for i in w.indices)  # inside its span


def test_smoothing_changes_the_timeline_and_keeps_probabilities(model_file, tmp_path):
    video = bad_media.video(tmp_path, 60, fps=10, noise=True)
    raw = GroupEmotionPredictor(model_file, window=1.0, stride=0.2).predict(video)
    smooth = GroupEmotionPredictor(model_file, window=1.0, stride=0.2, smoothing=1.5).predict(video)
    raw_probs = np.array([_probs(w) for w in raw.windows])
    smooth_probs = np.array([_probs(w) for w in smooth.windows])
    assert smooth_probs.shape == raw_probs.shape
    np.testing.assert_allclose(smooth_probs.sum(1), 1, atol=1e-5)
    assert [w.label for w in smooth.windows] == [max(w.probs, key=w.probs.get) for w in smooth.windows]
    # smoothing averages neighbours: the timeline varies less from window to window
    assert np.abs(np.diff(smooth_probs, axis=0)).sum() < 0.8 * np.abs(np.diff(raw_probs, axis=0)).sum()
    assert not np.allclose(smooth_probs, raw_probs, atol=1e-4)


@pytest.mark.parametrize(("name", "value"), [("window", 0), ("stride", -1), ("smoothing", float("nan"))])
def test_bad_window_options_are_one_line(model_file, name, value):
    with pytest.raises(ValueError, match=f"^{name} "):
        GroupEmotionPredictor(model_file, **{name: value})
