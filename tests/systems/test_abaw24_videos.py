"""The ABAW 2024 system on whole videos: the per-video MinMax scaling of §4.2.2 at training, test
and prediction, and every choice of training (best epochs, the KELM's C, the fusion) made on the
score ``vemd test`` gives the validation split by §4.3's protocol. Tiny SynthGroups clips made
into 10-fps videos of two windows each, with a per-frame annotation file per video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.systems.conftest import abaw24_config, fit_keeping_model

from vemd.errors import VemdError
from vemd.systems.abaw24.model import VideoMinMaxScaling, video_ranges

REPEAT, FPS = 5, 10  # each SynthGroups frame shown for 5 frames of a 10-fps video


def as_videos(source: Path, root: Path, *, audio: bool = False) -> Path:
    """Every split of the SynthGroups ``source`` (4-frame clips) as videos of two clips in
    ``root``, each frame shown 5 times (40 frames at 10 fps); each clip is one window of its
    video (``start_frame`` / ``end_frame``), the video has one per-frame file (every 7th frame
    not annotated) and, with ``audio``, one audio file: its two clips' sound one after the other."""
    from vemd.data.audio import read_audio
    from vemd.data.manifest import ClipRecord, read_manifest, write_manifest
    from vemd.data.media import folder_frames, read_image
    from vemd.data.va import read_va_file, write_va_file
    from vemd.synth.audio import write_wav
    from vemd.synth.identity_sets import write_video

    records, class_names = read_manifest(source)
    out = []
    for split in ("train", "val", "test"):
        clips = [r for r in records if r.split == split]
        for v in range(len(clips) // 2):
            name, pair = f"{split}{v}", clips[2 * v : 2 * v + 2]
            images, values = [], []
            for r in pair:
                for k, file in enumerate(folder_frames(source / r.path)):
                    images += [np.ascontiguousarray(read_image(file)[..., ::-1])] * REPEAT  # BGR
                    values += [read_va_file(str(source / r.va_file))[k]] * REPEAT
            values = np.array(values, dtype=np.float64)
            values[3::7] = np.nan
            write_video(root / f"{name}.mp4", images, fps=FPS)
            write_va_file(root / f"{name}.txt", values)
            if audio:  # each clip's sound over its 2 s of the video
                seconds = 4 * REPEAT / FPS
                sound = [read_audio(source / r.audio, end=seconds).samples for r in pair]
                write_wav(root / f"{name}.wav", np.concatenate(sound))
            for w, r in enumerate(pair):
                start = w * 4 * REPEAT
                out.append(
                    ClipRecord(
                        f"{name}@{start}",
                        split,
                        r.label,
                        f"{name}.mp4",
                        valence=r.valence,
                        arousal=r.arousal,
                        va_file=f"{name}.txt",
                        audio=f"{name}.wav" if audio else None,
                        start_frame=start,
                        end_frame=start + 4 * REPEAT,
                    )
                )
    write_manifest(root, out, class_names)
    return root


@pytest.fixture(scope="module")
def video_root(va_root, tmp_path_factory):
    return as_videos(va_root, tmp_path_factory.mktemp("abaw24_split_videos"))


@pytest.fixture(scope="module")
def per_video_fit(video_root, tmp_path_factory):
    """(run folder, fit summary) of a tiny model scaled per video, on the videos."""
    run = tmp_path_factory.mktemp("abaw24_per_video") / "run"
    cfg = abaw24_config(video_root, run, "system.abaw24.dynamic_scaling=minmax_video")
    summary, _ = fit_keeping_model(cfg)
    return run, summary


def test_each_video_is_scaled_by_the_range_of_its_own_frames():
    x = torch.tensor(
        [
            [[0.0, 10.0], [2.0, 30.0]],  # video a
            [[4.0, 20.0], [1.0, 20.0]],  # video b
            [[-2.0, 50.0], [3.0, 40.0]],  # video a
        ]
    )  # (N 3, T 2, D 2)
    low, high = video_ranges(x, ["a", "b", "a"])
    torch.testing.assert_close(low, torch.tensor([[-2.0, 10.0], [1.0, 20.0], [-2.0, 10.0]]))
    torch.testing.assert_close(high, torch.tensor([[3.0, 50.0], [4.0, 20.0], [3.0, 50.0]]))
    scaled = VideoMinMaxScaling()(x, (low, high))
    video_a = scaled[[0, 2]].reshape(-1, 2)
    torch.testing.assert_close(video_a.amin(0), torch.zeros(2))  # the video's own range → [0, 1]
    torch.testing.assert_close(video_a.amax(0), torch.ones(2))
    torch.testing.assert_close(scaled[1, :, 1], torch.zeros(2))  # constant in its video: only shifted
    # alone, an item is its own video
    torch.testing.assert_close(VideoMinMaxScaling()(x[:1]), torch.tensor([[[0.0, 0.0], [1.0, 1.0]]]))


@pytest.mark.slow
def test_the_recorded_choices_score_what_vemd_test_gives_the_validation_split(per_video_fit, tmp_path):
    """Best epochs, C and the fusion are chosen on §4.3's protocol: fit.json's validation score
    of every model is the one ``vemd test --split val`` reports, not the sampled frames'."""
    from vemd.systems import load_artifact
    from vemd.systems.abaw24.evaluate import evaluate_abaw24
    from vemd.systems.base import TestOptions

    run, summary = per_video_fit
    saved = json.loads((run / "fit.json").read_text())
    result = evaluate_abaw24(load_artifact(run / "model.pt"), TestOptions(split="val", out_dir=tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["selection"] == {**metrics["protocol"], "score": "protocol", "fusion": "protocol"}
    assert saved["selection"]["videos"] == 6 and saved["selection"]["videos_without_frame_rate"] == 0
    for name in ("static", "dynamic", "kelm", "fused"):
        assert saved["val_mean_ccc"][name] == pytest.approx(result["models"][name]["mean_ccc"], abs=1e-6)
    assert saved["best_val_score"] == pytest.approx(metrics["mean_ccc"], abs=1e-6)
    # the sampled frames would have given other numbers
    assert (
        max(abs(saved["val_mean_ccc"][n] - result["ccc_sampled"][n]["mean_ccc"]) for n in result["models"])
        > 1e-4
    )
    assert "scored on: §4.3's protocol" in (run / "MODEL_CARD.md").read_text()


def test_clips_without_per_frame_files_are_chosen_on_their_sampled_frames(tmp_path):
    from vemd.data.dataset import ClipDataset
    from vemd.data.manifest import ClipRecord
    from vemd.systems.abaw24.evaluate import Selection

    records = [ClipRecord(f"c{i}", "val", "a", f"c{i}", valence=0.1 * i, arousal=-0.1 * i) for i in range(3)]
    selection = Selection(ClipDataset(records, tmp_path, ["a"], frames=2), 0.5)
    assert not selection.protocol
    pred = np.array([[[0.1, 0.2], [0.3, 0.1]], [[0.5, 0.0], [0.2, 0.4]], [[0.9, 0.3], [0.1, 0.6]]])
    target = np.array([[[0.0, 0.0]] * 2, [[0.1, -0.1]] * 2, [[0.2, -0.2]] * 2])
    from vemd.systems.abaw24.evaluate import ccc_scores

    scores = selection.score(pred, target, np.zeros((3, 2), int))
    assert scores == ccc_scores(pred.reshape(-1, 2), target.reshape(-1, 2))
    assert selection.facts(target, np.zeros((3, 2), int))["score"] == "sampled_frames"


@pytest.mark.slow
def test_vemd_predict_scales_every_window_by_the_whole_videos_range(per_video_fit, video_root):
    """Two passes: every window of the video embedded first, then each predicted with the range
    of all of them (the predictor's values before its timeline smoothing)."""
    from vemd.data.media import read_frames_at
    from vemd.inference.predictor import GroupEmotionPredictor

    run, _ = per_video_fit
    predictor = GroupEmotionPredictor(run / "model.pt", window=1.0, batch_size=2, precision="fp32")
    assert predictor.capabilities.whole_video is not None
    video = video_root / "test0.mp4"
    windows, _ = predictor.windows(video)
    assert len(windows) == 4
    raw = []
    predictor.predict(video, on_window=raw.append)

    model = predictor.artifact.model
    frames = read_frames_at(video, sorted({i for w in windows for i in w.indices}))
    decoded = dict(zip(sorted({i for w in windows for i in w.indices}), frames))
    clips = torch.stack(
        [torch.from_numpy(np.stack([predictor.view.frame(decoded[i]) for i in w.indices])) for w in windows]
    ).permute(0, 1, 4, 2, 3)  # (W, T, 3, S, S)
    with torch.no_grad():
        embedded = model.embed(clips)
        whole = model.predictions(embedded, model.video_range(embedded, [0] * len(windows)))["fused"].mean(1)
        alone = model.predictions(embedded)["fused"].mean(1)  # each window its own video
    np.testing.assert_allclose([[w.valence, w.arousal] for w in raw], whole, atol=2e-6)
    assert np.abs(whole - alone).max() > 1e-3


def test_a_live_source_is_refused_in_one_line(per_video_fit):
    from vemd.inference.predictor import GroupEmotionPredictor

    predictor = GroupEmotionPredictor(per_video_fit[0] / "model.pt")
    with pytest.raises(VemdError, match="rtsp://example/live: a live source has no end.*minmax_video"):
        next(predictor.stream("rtsp://example/live"))
