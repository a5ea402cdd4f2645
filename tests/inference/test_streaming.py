"""A video is predicted window by window as it is decoded: memory does not grow with its length."""

import numpy as np
from tests.data import bad_media

from vemd.data import media
from vemd.inference import predictor as predictor_module
from vemd.inference.predictor import GroupEmotionPredictor


def test_windows_are_predicted_as_their_frames_decode(model_file, tmp_path, monkeypatch):
    video = bad_media.video(tmp_path, 40, fps=10)  # 4 s: four 1-s windows
    predictor = GroupEmotionPredictor(model_file, window=1.0)
    windows, _ = predictor.windows(video)
    reference = [predictor._group(media.read_video_frames(video, w.indices))[0] for w in windows]

    decoded, held, seen = [], [], []
    original = media.iter_video_frames

    def counting(path, indices):
        for number, frame in original(path, indices):
            decoded.append(number)
            yield number, frame

    group = predictor._group

    def spying(frames):
        seen.append(len(decoded))  # frames decoded when this window runs
        held.append(len(frames))
        return group(frames)

    monkeypatch.setattr(predictor_module, "iter_video_frames", counting)
    predictor._group = spying
    result = predictor.predict(video)
    assert len(result["windows"]) == 4 and held == [predictor.frames] * 4
    # each window runs before the next window's frames are decoded
    per_window = len(decoded) // 4
    assert seen == [per_window * (k + 1) for k in range(4)], (seen, decoded)
    for window, probs in zip(result["windows"], reference):  # the same as each window read on its own
        np.testing.assert_allclose(list(window["probs"].values()), probs, atol=1e-5)
