"""Predicting with a multimodal model file (paper §7): a video's frames and its audio track.

A tiny multimodal model (the tiny VE-MD, a tiny Mel-CNN audio branch, late fusion, random
weights) predicts generated videos with a tone, a silent track or no track; every result is
checked against the model run by hand on the same frames and audio: a window's audio is the
first ``multimodal.audio.seconds`` (1 s here) of its span, zero-padded when the window is shorter.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from tests.data import audio_media, bad_media
from tests.inference.helpers import printed_results
from tests.models.helpers import tiny_config, tiny_model, write_model_file

import vemd
from vemd.cli import main
from vemd.config import to_dict
from vemd.data.audio import SAMPLE_RATE, read_audio
from vemd.data.media import read_frames_at
from vemd.errors import DataError
from vemd.inference.results import AUDIO_PRESENT_KEY, MODALITIES_KEY, PUBLIC_KEYS, WINDOW_KEYS
from vemd.models.checkpoint import load_model, load_multimodal, save_multimodal
from vemd.structure.transforms import ClipTransform

pytest.importorskip("librosa", reason="the audio branch needs the 'audio' extra")

SECONDS = 1.0  # multimodal.audio.seconds of the tiny model
VIDEO = ("model.mode=ve-md",)  # the tiny VE-MD (its structural decoders do not run at inference)
MULTIMODAL = (
    *VIDEO,
    "multimodal.enabled=true",
    "multimodal.audio.encoder=mel_cnn",
    f"multimodal.audio.seconds={SECONDS}",
    "multimodal.audio.mel_cnn.channels=[8,16,16,16]",
    "multimodal.audio.mel_cnn.dim=16",
    "multimodal.audio.mel_cnn.feedforward_dim=32",
    "multimodal.audio.mel_cnn.n_mels=32",
    "multimodal.audio.mel_cnn.num_tokens=2",
    "multimodal.audio.mel_cnn.convs_per_block=1",
    "multimodal.fusion.kind=late",
    "multimodal.fusion.dim=16",
    "multimodal.fusion.num_heads=2",
    "multimodal.fusion.mlp_hidden=16",
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(video-only model file, multimodal model file over it)."""
    folder = tmp_path_factory.mktemp("multimodal")
    cfg, model = tiny_model(*VIDEO)
    video_file = folder / "video.pt"
    write_model_file(video_file, to_dict(cfg), model.inference_state_dict())
    from vemd.models.multimodal import MultimodalVEMD

    video, _, class_names = load_model(video_file)
    torch.manual_seed(0)
    multimodal = MultimodalVEMD(tiny_config(*MULTIMODAL), video)
    mm_file = save_multimodal(
        multimodal, tiny_config(*MULTIMODAL), class_names, folder / "model.pt", video_path=video_file
    )
    return video_file, mm_file


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Videos of the same frames (2 s at 10 fps) with a tone, a silent track, no track; an image."""
    folder = tmp_path_factory.mktemp("media")
    return {
        "sound": audio_media.video(folder, "sound.mp4", seconds=2.0),
        "silent": audio_media.video(folder, "silent.mp4", seconds=2.0, amplitude=0.0),
        "mute": audio_media.video(folder, "mute.mp4", seconds=2.0, audio=False),
        "image": bad_media.good_png(folder, "group.png"),
    }


@pytest.fixture(scope="module")
def model(files):
    """The multimodal model, loaded here."""
    return load_multimodal(files[1])[0]


@pytest.fixture(scope="module")
def predictor(files):
    """The multimodal model file loaded by vemd.load, windows of 1 s."""
    return vemd.load(files[1], window=1.0)


@pytest.fixture(scope="module")
def heard(predictor, media):
    """The result of the video with sound."""
    return predictor.predict(media["sound"])


def clips(path, windows, size: int) -> torch.Tensor:
    """Each window's frames at the model's input size, decoded here: (B, T, 3, S, S) uint8."""
    resize = ClipTransform(None, False, (size, size))
    frames = [np.stack([resize(f, {})[0] for f in read_frames_at(path, w.indices)]) for w in windows]
    return torch.from_numpy(np.stack(frames)).permute(0, 1, 4, 2, 3)


def by_hand(model, path, windows, *, audio: bool) -> np.ndarray:
    """The model's fused probabilities (B, C) of ``windows`` of ``path``, computed here (audio:
    the first SECONDS of each window's span, zero-padded; or none)."""
    waveforms = np.zeros((len(windows), round(SECONDS * SAMPLE_RATE)), np.float32)
    present = np.zeros(len(windows), bool)
    for b, w in enumerate(windows if audio else []):
        clip = read_audio(path, start=w.start, end=min(w.end, w.start + SECONDS))
        waveforms[b, : len(clip.samples)], present[b] = clip.samples, clip.present
    x = clips(path, windows, model.video.image_size)
    with torch.no_grad():
        logits = model(x, waveforms=torch.from_numpy(waveforms), audio_present=torch.from_numpy(present))
    return logits["fused"].softmax(-1).numpy()


def probs(result) -> np.ndarray:
    """(windows, C) probabilities of a result's timeline."""
    return np.array([list(w.probs.values()) for w in result.windows])


# ---- videos -----------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [0.5, 2.0])  # shorter than the audio span, longer
def test_a_video_with_sound_is_predicted_from_its_frames_and_its_audio(files, model, media, window):
    _, mm_file = files
    path = media["sound"]
    predictor = vemd.load(mm_file, window=window, batch_size=3)
    result = predictor.predict(path)
    spans, _ = predictor.windows(path)
    assert [(w.start, w.end) for w in result.windows] == [(s.start, s.end) for s in spans]
    assert all(w.audio_present is True for w in result.windows)
    np.testing.assert_allclose(probs(result), by_hand(model, path, spans, audio=True), atol=2e-6)
    as_dict = result.to_dict()
    assert set(as_dict) == PUBLIC_KEYS | {MODALITIES_KEY} and as_dict[MODALITIES_KEY] == ["video", "audio"]
    assert all(set(w) == WINDOW_KEYS | {AUDIO_PRESENT_KEY} for w in as_dict["windows"])


@pytest.mark.parametrize("kind", ["silent", "mute"])
def test_a_silent_or_missing_track_is_predicted_with_the_audio_absent(predictor, model, media, heard, kind):
    result = predictor.predict(media[kind])
    spans, _ = predictor.windows(media[kind])
    assert all(w.audio_present is False for w in result.windows)
    np.testing.assert_allclose(probs(result), by_hand(model, media[kind], spans, audio=False), atol=2e-6)
    assert len(result.windows) == len(heard.windows) == 2  # the same frames: only the audio differs
    assert (np.abs(probs(result) - probs(heard)).max(axis=1) > 1e-4).all()
    assert result.to_dict()[MODALITIES_KEY] == ["video"]


def test_vemd_predict_prints_the_multimodal_result(files, media, heard, capsys):
    _, mm_file = files
    path = media["sound"]
    assert main(["predict", str(path), "--ckpt", str(mm_file), "--window", "1", "--json"]) == 0
    (printed,) = printed_results(capsys.readouterr().out)
    assert printed == {"type": "result", **heard.to_dict(rounded=True)}
    assert printed[MODALITIES_KEY] == ["video", "audio"]


def test_an_audio_track_that_stops_decoding_is_one_notice_then_windows_without_audio(
    files, media, monkeypatch
):
    from vemd.inference import predictor as module

    def breaks_at_one_second(path, *, start, end, missing):
        if start >= 1.0:
            raise DataError(
                f"{path}: truncated or corrupt audio: 0.00 s of the 1.00 s asked from {start:g} s"
            )
        return read_audio(path, start=start, end=end, missing=missing)

    monkeypatch.setattr(module, "read_audio", breaks_at_one_second)
    notices = []
    path = media["sound"]
    result = vemd.load(files[1], window=0.5, notify=notices.append).predict(path)
    assert [w.audio_present for w in result.windows] == [True, True, False, False]
    assert len(notices) == 1 and str(path) in notices[0] and "from 1 s without audio" in notices[0]
    assert result.modalities == ("video", "audio")


# ---- inputs without audio ---------------------------------------------------------------------


def test_an_image_is_predicted_from_its_video_with_the_audio_absent(predictor, model, media):
    result = predictor.predict(media["image"])
    spans, _ = predictor.windows(media["image"])
    (got,) = result.windows
    assert got.audio_present is False and result.modalities == ("video",)
    np.testing.assert_allclose(probs(result), by_hand(model, media["image"], spans, audio=False), atol=2e-6)


def test_frames_in_memory_are_predicted_without_audio_and_say_so_once(files, media, caplog):
    _, mm_file = files
    predictor = vemd.load(mm_file)
    frames = np.stack(read_frames_at(media["sound"], list(range(10))))  # (10, 48, 64, 3)
    with caplog.at_level(logging.WARNING, logger="vemd.inference.predictor"):
        first = predictor.predict(frames)
        predictor.predict(frames, fps=10)
    told = [r for r in caplog.records if "no audio" in r.getMessage()]
    assert len(told) == 1 and "frames in memory" in told[0].getMessage()
    assert first.modalities == ("video",) and all(w.audio_present is False for w in first.windows)


# ---- the video-only path ----------------------------------------------------------------------


def test_a_video_only_model_file_predicts_as_before(files, media):
    video_file, _ = files
    path = media["sound"]
    predictor = vemd.load(video_file, window=1.0)
    result = predictor.predict(path)
    as_dict = result.to_dict()
    assert set(as_dict) == PUBLIC_KEYS and all(set(w) == WINDOW_KEYS for w in as_dict["windows"])
    assert result.modalities is None and not predictor.capabilities.audio
    video, _, _ = load_model(video_file)
    spans, _ = predictor.windows(path)
    with torch.no_grad():
        expected = video.classify(video.preprocess(clips(path, spans, video.image_size))).logits.softmax(-1)
    np.testing.assert_allclose(probs(result), expected.numpy(), atol=2e-6)


# ---- vemd serve -------------------------------------------------------------------------------


def test_vemd_serve_predicts_an_upload_with_its_audio(files, media, heard, tmp_path):
    pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
    from fastapi.testclient import TestClient

    from vemd.serve.app import create_app

    _, mm_file = files
    path = media["sound"]
    with TestClient(create_app(mm_file, tmp_dir=tmp_path / "uploads", window=1.0)) as client:
        response = client.post("/v1/predict", files={"file": ("sound.mp4", path.read_bytes())})
    assert response.status_code == 200, response.text
    assert response.json() == {"type": "result", **heard.to_dict(rounded=True), "input": "sound.mp4"}
