"""The ABAW 2024 audio model (its §3.1, §4.2.1) and Table 5's audio-visual systems 2-4, on tiny
random wav2vec2 encoders: every row's recipe builds offline, the heads' shapes and which encoder
layers train, the windows and the frames they cover, the mouth-based voice activity, a tiny
``vemd fit`` whose fusion weighs the audio model, and the missing-encoder error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from tests.systems.conftest import abaw24_config  # noqa: E402

from vemd.config import ABAW24AudioConfig, ConfigError, load_config  # noqa: E402
from vemd.errors import VemdError  # noqa: E402
from vemd.systems.abaw24.audio import augment, build_audio_model  # noqa: E402
from vemd.systems.abaw24.audio_windows import SplitWindows, frames_from_windows, window_spans  # noqa: E402
from vemd.systems.abaw24.mouth import MEDIAPIPE_MOUTH, mouth_opening, voiced_windows  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SR = 16_000
# a 5-layer, 32-wide wav2vec2: 16 and 32 heads divide it; v3 fine-tunes its top 4 layers
TINY_ENCODER = {
    "hidden_size": 32,
    "num_hidden_layers": 5,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}
TABLE5 = {  # recipe → (fusion, members): Sys 2, 3, 4
    "paper/systems/abaw24_affwild2_dwf_audio": ("dirichlet", ["dynamic", "audio"]),
    "paper/systems/abaw24_affwild2_dwf_audio_func": ("dirichlet", ["dynamic", "audio", "kelm"]),
    "paper/systems/abaw24_affwild2_rf_audio_func": ("random_forest", ["dynamic", "audio", "kelm"]),
}


def tiny_audio(**overrides) -> ABAW24AudioConfig:
    return ABAW24AudioConfig(
        enabled=True, random_encoder=dict(TINY_ENCODER), gru_dim=16, cnn_channels=8, fc_dim=8, **overrides
    )


# ---- recipes ------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", sorted(TABLE5))
def test_every_table5_audio_recipe_builds_offline(recipe):
    from vemd.systems import SYSTEMS

    cfg = load_config(recipe, ["system.abaw24.pretrained=false", "system.abaw24.backbone=test_efficientnet"])
    a = cfg.system.abaw24
    assert (a.fusion, a.fusion_members) == TABLE5[recipe]
    assert a.audio.enabled and a.audio.head == "v3" and a.audio.voice_activity == "mouth"
    assert a.audio.encoder == "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim"  # PDEM, §3.1
    assert (a.audio.window_s, a.audio.step_s) == (4.0, 2.0)  # §4.2.1
    a.audio.random_encoder = dict(TINY_ENCODER)
    model = SYSTEMS["abaw24"].build(cfg)
    assert model.fusion_weights.shape == (len(a.fusion_members), 2)
    assert model.rf_preds.shape == (len(a.fusion_members), 0, 2)
    assert SYSTEMS["abaw24"].outputs(cfg).audio_seconds == pytest.approx(4.0)  # 20 frames 0.2 s apart


def test_the_audio_settings_are_checked():
    with pytest.raises(ConfigError, match="add audio to fusion_members"):
        load_config(
            "paper/systems/abaw24_affwild2_dwf_audio", ["system.abaw24.fusion_members=[dynamic,kelm]"]
        )
    with pytest.raises(ConfigError, match="without the audio model"):
        load_config("paper/systems/abaw24_affwild2", ["system.abaw24.fusion_members=[dynamic,audio]"])
    with pytest.raises(ConfigError, match="audio.head"):
        load_config("paper/systems/abaw24_affwild2_dwf_audio", ["system.abaw24.audio.head=v4"])


# ---- the model ----------------------------------------------------------------------------


@pytest.mark.parametrize(("head", "tuned"), [("v1", 2), ("v2", 2), ("v3", 4)])
def test_each_head_predicts_two_bounded_values_and_trains_its_top_encoder_layers(head, tuned):
    torch.manual_seed(0)
    model = build_audio_model(tiny_audio(head=head))
    waveforms = torch.randn(3, SR) * 0.1
    out = model(waveforms, torch.tensor([SR, 12_000, 8_000]))
    assert out.shape == (3, 2) and out.abs().max() <= 1
    out.square().sum().backward()
    layers = model.encoder.model.encoder.layers
    trained = [any(p.grad is not None for p in layer.parameters()) for layer in layers]
    assert trained == [False] * (5 - tuned) + [True] * tuned  # §3.1: the top 2 (V1, V2) or 4 (V3)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.head.parameters())
    assert model.encoder.model.feature_extractor.conv_layers[0].conv.weight.grad is None
    # the padding after a window's samples changes nothing
    model.eval()
    with torch.no_grad():
        padded = torch.cat([waveforms[:1, :8_000], torch.zeros(1, 8_000)], 1)
        alone = model(waveforms[:1, :8_000], torch.tensor([8_000]))
        torch.testing.assert_close(model(padded, torch.tensor([8_000])), alone, atol=1e-5, rtol=0)


def test_augmentation_inverts_polarity_and_keeps_the_padding_silent():
    x = torch.rand(2, 100) - 0.5
    lengths = torch.tensor([100, 60])
    flipped = augment(x, lengths, tiny_audio(polarity_prob=1.0))
    torch.testing.assert_close(flipped[0], -x[0])
    assert (flipped[1, 60:] == 0).all()
    noisy = augment(
        x, lengths, tiny_audio(noise_prob=1.0, noise_snr_db=0.0), torch.Generator().manual_seed(0)
    )
    assert not torch.allclose(noisy[:, :60], x[:, :60]) and noisy.abs().max() <= 1
    assert torch.equal(augment(x, lengths, tiny_audio()), x * (torch.arange(100) < lengths[:, None]))


def test_a_missing_encoder_is_one_line_saying_how_to_get_it():
    with pytest.raises(VemdError) as err:
        build_audio_model(ABAW24AudioConfig(enabled=True, encoder="vemd-tests/no-such-pdem"))
    message = str(err.value)
    assert "\n" not in message and "vemd-tests/no-such-pdem" in message and "hf download" in message


# ---- windows and frames -------------------------------------------------------------------


def test_windows_are_4_s_every_2_s_the_last_ending_with_the_audio():
    np.testing.assert_array_equal(window_spans(0, 10, 4, 2), [[0, 4], [2, 6], [4, 8], [6, 10]])
    np.testing.assert_array_equal(window_spans(0, 9, 4, 2), [[0, 4], [2, 6], [4, 8], [5, 9]])
    np.testing.assert_array_equal(window_spans(1, 3, 4, 2), [[1, 3]])  # shorter than a window


def test_each_frame_takes_the_mean_of_the_windows_covering_it():
    spans = np.array([[0, 4], [2, 6], [4, 8]], dtype=float)
    preds = np.array([[1.0, -1.0], [3.0, -3.0], [5.0, -5.0]])
    got = frames_from_windows(np.array([1.0, 3.0, 5.0, 9.5]), spans, preds)
    # 1 s: window 0; 3 s: windows 0 and 1; 5 s: 1 and 2; 9.5 s: none, the nearest (4-8)
    np.testing.assert_array_equal(got, [[1, -1], [2, -2], [4, -4], [5, -5]])
    assert frames_from_windows(np.array([1.0]), np.zeros((0, 2)), np.zeros((0, 2))).tolist() == [[0, 0]]


def test_window_targets_average_the_labelled_frames_inside():
    windows = SplitWindows(
        paths=["a.wav", "a.wav"],
        spans=np.array([[0, 2], [1, 3]], dtype=float),
        times=[np.array([0.5, 1.5]), np.array([2.5, 2.8])],  # two items of one source
        item_windows=[np.array([0, 1]), np.array([1])],
    )
    targets = np.array([[[0.2, 0.4], [0.6, np.nan]], [[1.0, 1.0], [np.nan, np.nan]]])
    np.testing.assert_allclose(windows.targets(targets), [[0.4, 0.4], [0.8, 1.0]])
    openings = np.array([[0.3, 0.0], [0.0, 0.0]])  # the mouth opens at 0.5 s only
    assert windows.voiced(openings, mouth_open=0.05, voiced_fraction=0.5).tolist() == [True, False]
    frames = windows.frames(np.array([[1.0, 1.0], [3.0, 3.0]]))
    np.testing.assert_array_equal(frames[:, :, 0], [[1, 2], [3, 3]])


# ---- voice activity from the mouth (§4.2.1) ----------------------------------------------


def _face_mesh(opening: float) -> np.ndarray:
    """(468, 2) Face Mesh points, a 40-px-wide mouth open by ``opening`` of its width."""
    points = np.zeros((468, 2))
    upper, lower, left, right = MEDIAPIPE_MOUTH
    points[left], points[right] = (80, 100), (120, 100)
    points[upper], points[lower] = (100, 100 - 20 * opening), (100, 100 + 20 * opening)
    return points


def test_the_mouth_opening_is_the_lip_gap_over_the_mouth_width():
    sequence = np.stack([_face_mesh(o) for o in (0.0, 0.1, 0.4)])  # (T, 468, 2)
    np.testing.assert_allclose(mouth_opening(sequence), [0.0, 0.1, 0.4])
    ibug = np.zeros((68, 2))
    ibug[60], ibug[64], ibug[62], ibug[66] = (0, 0), (10, 0), (5, -1), (5, 1)
    assert mouth_opening(ibug) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="468/478"):
        mouth_opening(np.zeros((17, 2)))


def test_a_window_is_voiced_when_the_mouth_opens_in_enough_of_its_frames():
    times = np.arange(40) * 0.2  # 8 s at 5 fps
    talking = (times < 4) & (np.arange(40) % 2 == 0)  # the mouth opens and closes, 0-4 s
    openings = mouth_opening(np.stack([_face_mesh(0.3 if t else 0.0) for t in talking]))
    openings[1] = np.nan  # no face found: a closed mouth
    spans = window_spans(0, 8, 4, 2)  # 0-4, 2-6, 4-8
    voiced = voiced_windows(times, openings, spans, mouth_open=0.05, voiced_fraction=0.2)
    assert voiced.tolist() == [True, True, False]  # 50 %, 25 %, 0 % of the frames open
    strict = voiced_windows(times, openings, spans, mouth_open=0.05, voiced_fraction=0.3)
    assert strict.tolist() == [True, False, False]
    assert not voiced_windows(
        times, openings, np.array([[20.0, 24.0]]), mouth_open=0.05, voiced_fraction=0.2
    )[0]


FACES = Path("/work/shared/fixtures/faces_expr")  # CK+ faces, 48 × 48 grey (fixtures README)


@pytest.mark.skipif(not FACES.is_dir(), reason="needs the shared faces_expr fixture")
def test_face_mesh_finds_open_mouths_on_real_surprised_faces_and_closed_ones_on_contempt():
    pytest.importorskip("mediapipe")
    from PIL import Image

    from vemd.systems.abaw24.mouth import MouthOpening

    def openings(emotion: str) -> np.ndarray:
        files = sorted((FACES / emotion).glob("*.png"))[::5][:6]
        frames = [np.array(Image.open(f).convert("RGB").resize((192, 192), Image.BICUBIC)) for f in files]
        return reader(np.stack(frames))

    reader = MouthOpening()
    try:
        surprise, contempt = openings("surprise"), openings("contempt")
    finally:
        reader.close()
    assert np.isfinite(surprise).all() and np.isfinite(contempt).all()  # a face in every crop
    mouth_open = ABAW24AudioConfig().mouth_open
    assert (surprise >= mouth_open).mean() >= 0.8 and (contempt < mouth_open).mean() >= 0.8


# ---- vemd fit with the audio model --------------------------------------------------------


@pytest.fixture(scope="module")
def va_audio_root(tmp_path_factory):
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth_va_audio") / "data"
    return generate_dataset(
        root,
        n_train=12,
        n_val=6,
        n_test=6,
        frames=4,
        seed=0,
        max_people=2,
        image_size=64,
        progress=False,
        audio=True,
        va=True,
    )


def audio_config(root: Path, out: Path, *extra: str):
    """A tiny Table 5 Sys 3 (Dirichlet fusion of the dynamic, audio and KELM models) on ``root``."""
    cfg = abaw24_config(
        root,
        out,
        "system.abaw24.static.epochs=1",
        "system.abaw24.dynamic.epochs=1",
        "system.abaw24.audio.enabled=true",
        "system.abaw24.fusion_members=[dynamic,audio,kelm]",
        "system.abaw24.audio.head=v1",
        "system.abaw24.audio.window_s=1.0",  # SynthGroups' 2-s clips: three windows each
        "system.abaw24.audio.step_s=0.5",
        "system.abaw24.audio.gru_dim=16",
        "system.abaw24.audio.cnn_channels=8",
        "system.abaw24.audio.fc_dim=8",
        "system.abaw24.audio.train.epochs=2",
        "system.abaw24.audio.train.batch_size=16",
        *extra,
    )
    cfg.system.abaw24.audio.random_encoder = dict(TINY_ENCODER)
    return cfg


@pytest.mark.slow
def test_fit_trains_the_audio_model_and_fuses_it_frame_by_frame(va_audio_root, tmp_path):
    from tests.systems.conftest import fit_keeping_model

    from vemd.systems.common import load_system

    cfg = audio_config(va_audio_root, tmp_path / "run", "system.abaw24.audio.polarity_prob=0.5")
    summary, model = fit_keeping_model(cfg)
    saved = json.loads((tmp_path / "run" / "fit.json").read_text())
    assert set(saved["val_mean_ccc"]) == {"static", "dynamic", "kelm", "audio", "fused"}
    assert saved["audio"]["windows"]["train"] == {
        "windows": 36,
        "without audio": 0,
        "silent (mouth closed)": 0,
        "unlabelled": 0,
        "trained or scored": 36,
    }
    weights = np.array(saved["fusion_weights"])  # rows: dynamic, audio, kelm
    assert weights.shape == (3, 2)
    np.testing.assert_allclose(weights.sum(0), 1.0)
    assert "audio" in (tmp_path / "run" / "MODEL_CARD.md").read_text()

    loaded, _, _ = load_system(tmp_path / "run" / "model.pt")
    assert type(loaded).__name__ == "ABAW24AudioVisual"
    for name, value in model.audio.state_dict().items():
        assert torch.equal(loaded.audio.state_dict()[name], value), name
    frames = torch.zeros(2, 4, 3, 64, 64, dtype=torch.uint8)
    audio = np.full((2, 4, 2), 0.5)
    p = loaded.all_predictions(frames, audio)
    by_hand = sum(w * p[m] for w, m in zip(weights, ("dynamic", "audio", "kelm")))
    np.testing.assert_allclose(p["fused"], np.clip(by_hand, -1, 1), atol=1e-12)
    with pytest.raises(VemdError, match="audio predictions"):
        loaded.all_predictions(frames)
    clips = loaded.predict_clips(frames, torch.randn(2, 2 * SR) * 0.1)  # what vemd predict gives it
    assert np.isfinite(clips["valence"]).all() and clips["arousal"].shape == (2,)


# ---- vemd test and vemd predict of a model with audio, on whole videos ---------------------


@pytest.fixture(scope="module")
def audio_videos_fit(va_audio_root, tmp_path_factory):
    """The run folder of a tiny Sys 3 scaled per video (§4.2.2), fitted on the SynthGroups clips
    made into 10-fps videos with their sound and per-frame files
    (:func:`tests.systems.test_abaw24_videos.as_videos`)."""
    from tests.systems.conftest import fit_keeping_model
    from tests.systems.test_abaw24_videos import as_videos

    root = as_videos(va_audio_root, tmp_path_factory.mktemp("abaw24_audio_videos"), audio=True)
    run = tmp_path_factory.mktemp("abaw24_audio_per_video") / "run"
    fit_keeping_model(audio_config(root, run, "system.abaw24.dynamic_scaling=minmax_video"))
    return run


@pytest.mark.slow
def test_vemd_test_scores_the_fused_audio_prediction_as_fit_chose_it(audio_videos_fit, tmp_path):
    """``vemd test`` hears the split's audio and scores every model, the audio one and the fusion
    with it, by §4.3's protocol; fit.json's choices were scored the same way (the audio model's
    best epoch alone on its windows)."""
    from vemd.cli import main

    run = audio_videos_fit
    assert main(["test", "--ckpt", str(run / "model.pt"), "--split", "val", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    saved = json.loads((run / "fit.json").read_text())
    assert set(metrics["models"]) == {"static", "dynamic", "kelm", "audio", "fused"}
    assert np.isfinite(metrics["mean_ccc"]) and metrics["protocol"]["videos"] == 3
    assert saved["selection"] == {
        **metrics["protocol"],
        "score": "protocol",
        "fusion": "protocol",
        "audio_epoch": "voiced_windows",
    }
    for name, scores in metrics["models"].items():
        assert saved["val_mean_ccc"][name] == pytest.approx(scores["mean_ccc"], abs=1e-6), name
    sampled = metrics["ccc_sampled"]["audio"]["mean_ccc"]
    assert abs(metrics["models"]["audio"]["mean_ccc"] - sampled) > 1e-4  # not the sampled frames
    assert "| audio |" in (tmp_path / "va.md").read_text()


@pytest.mark.slow
def test_vemd_predict_of_a_model_scaled_per_video_hears_each_windows_audio(audio_videos_fit, tmp_path):
    """The two-pass path of a per-video scaling hears each window's audio as the windowed path
    does: the values before smoothing are every window's fused prediction, its video's range over
    all of them and its own audio heard; the same frames without a sound track predict otherwise."""
    from tests.data import audio_media

    from vemd.data.media import read_frames_at
    from vemd.inference.predictor import GroupEmotionPredictor, WindowAudio

    predictor = GroupEmotionPredictor(
        audio_videos_fit / "model.pt", window=1.0, batch_size=2, precision="fp32"
    )
    assert predictor.capabilities.whole_video is not None and predictor.audio_seconds is not None
    heard = audio_media.video(tmp_path, "tone.mp4", seconds=3.0)
    silent = audio_media.video(tmp_path, "silent.mp4", seconds=3.0, audio=False)  # the same frames
    raw = {heard: [], silent: []}
    for video, windows in raw.items():
        predictor.predict(video, on_window=windows.append)
    assert all(w.audio_present for w in raw[heard]) and not any(w.audio_present for w in raw[silent])

    windows, _ = predictor.windows(heard)
    assert len(windows) == 3  # two batches of two and one
    wanted = sorted({i for w in windows for i in w.indices})
    decoded = dict(zip(wanted, read_frames_at(heard, wanted)))
    clips = torch.stack(
        [torch.from_numpy(np.stack([predictor.view.frame(decoded[i]) for i in w.indices])) for w in windows]
    ).permute(0, 1, 4, 2, 3)  # (W, T, 3, S, S)
    track = WindowAudio(heard, predictor.audio_seconds, predictor.notify)
    sound = [track(w) for w in windows]
    model = predictor.artifact.model
    with torch.no_grad():
        embedded = model.embed(clips)
        audio = model.heard(clips, np.stack([s for s, _ in sound]), np.array([h for _, h in sound]))
        video_range = model.video_range(embedded, [0] * len(windows))
        whole = model.predictions(embedded, video_range, audio)["fused"].mean(1)
    np.testing.assert_allclose([[w.valence, w.arousal] for w in raw[heard]], whole, atol=2e-6)
    without = np.array([[w.valence, w.arousal] for w in raw[silent]])
    assert np.abs(without - whole).max() > 1e-4
