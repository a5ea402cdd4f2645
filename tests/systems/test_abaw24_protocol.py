"""The evaluation protocol of the ABAW 2024 system (ABAW 2024 §4.3): predictions at the sampled
frames interpolated to every frame of the video, smoothed with a 0.5-s Hamming window at its
frame rate, CCC over every annotated frame of all videos: by hand on a sampled sine, and through
``vemd test`` on tiny SynthGroups clips made into 10-fps videos cut into windows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.systems.conftest import abaw24_config, split_frames
from tests.systems.test_abaw24 import fitted  # noqa: F401 (module fixture, fitted once here)

from vemd.systems.abaw24.evaluate import ccc_scores, frame_predictions, protocol_ccc


def _ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC with population moments, written out."""
    cov = ((x - x.mean()) * (y - y.mean())).mean()
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def _hamming_by_hand(curve: np.ndarray, taps: int) -> np.ndarray:
    """Each frame: the Hamming-weighted mean of the ``taps`` (odd) frames around it, the window
    cut at the ends and its remaining weights renormalised."""
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(taps) / (taps - 1))
    half, out = taps // 2, np.empty_like(curve)
    for f in range(len(curve)):
        lo, hi = max(0, f - half), min(len(curve), f + half + 1)
        w = window[lo - f + half : hi - f + half]
        out[f] = w @ curve[lo:hi] / w.sum()
    return out


# ---- the protocol on hand-made arrays -----------------------------------------------------------


@pytest.fixture()
def sine():
    """10 s of a 30-fps video: valence and arousal slow sines; predictions at every 5th frame
    (6 fps) off by ±0.3 in turn; frames 100-129 not annotated (AffWild2's -5)."""
    fps, frames = 30.0, 300
    t = np.arange(frames) / fps
    truth = np.stack([np.sin(2 * np.pi * 0.2 * t), 0.5 * np.cos(2 * np.pi * 0.3 * t) + 0.1], axis=1)
    indices = np.arange(0, frames, 5)
    pred = truth[indices] + 0.3 * (-1.0) ** np.arange(len(indices))[:, None]
    target = truth.copy()
    target[100:130] = np.nan
    return fps, indices, pred, target


def test_predictions_are_interpolated_to_every_frame_and_held_at_the_ends():
    pred = np.array([[0.0, 1.0], [0.5, -1.0], [0.2, 0.2], [0.4, 0.0]])
    indices = np.array([2, 7, 7, 12])  # frame 7 sampled twice: its mean, (0.35, -0.4)
    curve = frame_predictions(indices, pred, 15, fps=0.0, seconds=0.5)  # no rate: not smoothed
    assert curve.shape == (15, 2)
    np.testing.assert_allclose(curve[:3], [[0.0, 1.0]] * 3)  # held before the first sampled frame
    np.testing.assert_allclose(curve[7], [0.35, -0.4])
    np.testing.assert_allclose(curve[4], [0.0 + 2 / 5 * 0.35, 1.0 + 2 / 5 * -1.4])
    np.testing.assert_allclose(curve[12:], [[0.4, 0.0]] * 3)  # held after the last one
    # 0 s, None: not smoothed either; a rate and a window: smoothed
    np.testing.assert_array_equal(frame_predictions(indices, pred, 15, fps=30.0, seconds=0), curve)
    np.testing.assert_array_equal(frame_predictions(indices, pred, 15, fps=30.0, seconds=None), curve)
    smoothed = frame_predictions(indices, pred, 15, fps=10.0, seconds=0.5)  # 5 taps
    np.testing.assert_allclose(smoothed, _hamming_by_hand(curve, 5), atol=1e-12)


def test_the_protocol_ccc_is_that_of_the_smoothed_curve_on_every_annotated_frame(sine):
    fps, indices, pred, target = sine
    curve = np.stack([np.interp(np.arange(300), indices, pred[:, d]) for d in range(2)], axis=1)
    smoothed = _hamming_by_hand(curve, 15)  # 0.5 s at 30 fps
    keep = np.isfinite(target[:, 0])
    assert keep.sum() == 270
    expected = [_ccc(smoothed[keep, d], target[keep, d]) for d in range(2)]
    scores = protocol_ccc([(indices, pred, target, fps)], 0.5)
    assert scores["valence_ccc"] == pytest.approx(expected[0], abs=1e-12)
    assert scores["arousal_ccc"] == pytest.approx(expected[1], abs=1e-12)
    assert scores["mean_ccc"] == pytest.approx(sum(expected) / 2, abs=1e-12)
    # the smoothing averages the jitter out; scoring the sampled frames alone keeps all of it
    interpolated = protocol_ccc([(indices, pred, target, fps)], 0)
    keep_sampled = np.isfinite(target[indices, 0])
    sampled = ccc_scores(pred[keep_sampled], target[indices][keep_sampled])
    assert interpolated["mean_ccc"] == pytest.approx(
        np.mean([_ccc(curve[keep, d], target[keep, d]) for d in range(2)]), abs=1e-12
    )
    assert scores["mean_ccc"] > interpolated["mean_ccc"] + 0.05
    assert interpolated["mean_ccc"] > sampled["mean_ccc"] + 0.05
    assert scores["mean_ccc"] > 0.9 > sampled["mean_ccc"]


def test_the_protocol_scores_all_videos_concatenated(sine):
    """Two videos: one CCC over their frames together, not the mean of one per video."""
    fps, indices, pred, target = sine
    other = np.stack([np.linspace(-0.8, 0.8, 40), np.linspace(0.5, -0.5, 40)], axis=1)
    other_pred = 0.5 * other[::4]
    videos = [(indices, pred, target, fps), (np.arange(0, 40, 4), other_pred, other, 0.0)]
    scores = protocol_ccc(videos, 0.5)
    first = frame_predictions(indices, pred, 300, fps=fps, seconds=0.5)
    second = frame_predictions(np.arange(0, 40, 4), other_pred, 40, fps=0.0, seconds=0.5)  # no rate
    together_p, together_t = np.concatenate([first, second]), np.concatenate([target, other])
    keep = np.isfinite(together_t[:, 0])
    assert scores["valence_ccc"] == pytest.approx(_ccc(together_p[keep, 0], together_t[keep, 0]), abs=1e-12)
    per_video = np.mean([protocol_ccc([v], 0.5)["valence_ccc"] for v in videos])
    assert abs(scores["valence_ccc"] - per_video) > 0.01


# ---- vemd test on videos cut into windows -------------------------------------------------------

REPEAT = 5  # each SynthGroups frame shown for 5 frames of a 10-fps video
FPS = 10


@pytest.fixture(scope="module")
def video_root(va_root, tmp_path_factory):
    """The 12 test clips of ``va_root`` (4 frames each) as 6 videos of two clips, each frame
    shown 5 times (40 frames at 10 fps); each clip is one window of its video (AffWild2's
    ``start_frame``/``end_frame``) and the video has one per-frame file (its clip's value on
    the frames that show it, every 7th frame not annotated: -5)."""
    from vemd.data.manifest import ClipRecord, read_manifest, write_manifest
    from vemd.data.media import folder_frames, read_image
    from vemd.data.va import read_va_file, write_va_file
    from vemd.synth.identity_sets import write_video

    root = tmp_path_factory.mktemp("abaw24_videos")
    records, class_names = read_manifest(va_root, split="test")
    records = [r for r in records if r.split == "test"]
    assert len(records) == 12
    out = []
    for v in range(6):
        pair = records[2 * v : 2 * v + 2]
        images, values = [], []
        for r in pair:
            for k, file in enumerate(folder_frames(va_root / r.path)):
                images += [np.ascontiguousarray(read_image(file)[..., ::-1])] * REPEAT  # BGR
                values += [read_va_file(str(va_root / r.va_file))[k]] * REPEAT
        values = np.array(values, dtype=np.float64)
        values[3::7] = np.nan
        write_video(root / f"video{v}.mp4", images, fps=FPS)
        write_va_file(root / f"video{v}.txt", values)
        for w, r in enumerate(pair):
            start = w * 4 * REPEAT
            out.append(
                ClipRecord(
                    f"video{v}@{start}",
                    "test",
                    r.label,
                    f"video{v}.mp4",
                    valence=r.valence,
                    arousal=r.arousal,
                    va_file=f"video{v}.txt",
                    start_frame=start,
                    end_frame=start + 4 * REPEAT,
                )
            )
    write_manifest(root, out, class_names)
    return root


def test_vemd_test_scores_the_interpolated_smoothed_predictions_of_every_annotated_frame(
    fitted,  # noqa: F811
    video_root,
    tmp_path,
):
    from vemd.data.dataset import source_span
    from vemd.data.media import probe, read_frames
    from vemd.data.va import read_va_file
    from vemd.inference.smoothing import hamming_smooth
    from vemd.systems import load_artifact
    from vemd.systems.abaw24.evaluate import evaluate_abaw24
    from vemd.systems.base import TestOptions

    run = fitted[0]
    artifact = load_artifact(run / "model.pt")
    assert artifact.cfg.system.abaw24.smoothing_s == 0.5
    cfg = abaw24_config(video_root, tmp_path / "unused")
    dataset, frames = split_frames(cfg, "test")
    predictions = artifact.model.all_predictions(frames)
    # the evaluation places the predictions at the source frames each sample was read at
    for row, record in enumerate(dataset.records):
        indices = dataset[row]["frame_indices"].tolist()
        _, read = read_frames(
            video_root / record.path, 4, interval=0.5, span=(record.start_frame, record.end_frame)
        )
        info = probe(video_root / record.path)
        span = source_span(record, info.num_frames)
        assert indices == read and info.fps == FPS and span == (record.start_frame, record.end_frame)
        assert indices == [record.start_frame + i for i in (2, 7, 12, 17)]

    result = evaluate_abaw24(artifact, TestOptions(data_cfg=cfg, out_dir=tmp_path / "report"))
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    targets = [read_va_file(str(video_root / f"video{v}.txt")).astype(np.float64) for v in range(6)]
    keep = np.isfinite(np.concatenate(targets)).all(axis=1)
    assert metrics["protocol"] == {
        "smoothing_s": 0.5,
        "videos": 6,
        "videos_without_frame_rate": 0,
        "items_at_sampled_frames": 0,
        "labelled_frames": int(keep.sum()),
    }
    assert metrics["labelled_frames"] == int(keep.sum()) == 6 * (40 - 6)
    for name, p in predictions.items():
        # by hand: each video's two windows' 8 predictions, at frames 2, 7, ..., 37, to its 40
        # frames, a 5-tap (0.5 s at 10 fps) Hamming window, every annotated frame of all 6
        curves = []
        for v in range(6):
            at = np.array([2, 7, 12, 17, 22, 27, 32, 37])
            values = np.concatenate([p[2 * v], p[2 * v + 1]])
            curve = np.stack([np.interp(np.arange(40), at, values[:, d]) for d in range(2)], axis=1)
            curves.append(hamming_smooth(curve, 5))
        pred, target = np.concatenate(curves)[keep], np.concatenate(targets)[keep]
        expected = [_ccc(pred[:, d], target[:, d]) for d in range(2)]
        scores = result["models"][name]
        assert scores["valence_ccc"] == pytest.approx(expected[0], abs=1e-9)
        assert scores["arousal_ccc"] == pytest.approx(expected[1], abs=1e-9)
        assert metrics["models"][name]["mean_ccc"] == pytest.approx(np.mean(expected), abs=1e-9)
        # the sampled frames alone: kept for comparison, and another number
        sampled_t = np.concatenate([targets[v][[2, 7, 12, 17, 22, 27, 32, 37]] for v in range(6)])
        sampled = ccc_scores(p.reshape(-1, 2), sampled_t)
        assert result["ccc_sampled"][name] == pytest.approx(sampled)
        assert metrics["ccc_sampled"][name]["mean_ccc"] == pytest.approx(sampled["mean_ccc"])
        assert abs(sampled["mean_ccc"] - scores["mean_ccc"]) > 1e-6  # far above the 1e-9 above
    assert metrics["mean_ccc"] == metrics["models"]["fused"]["mean_ccc"]
    table = (tmp_path / "report" / "va.md").read_text()
    assert "0.5-s Hamming smoothing" in table and "mean (sampled frames)" in table
