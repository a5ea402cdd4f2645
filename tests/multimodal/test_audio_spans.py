"""A multimodal clip's audio is the span its frames cover (paper §7's audio branches): the whole
clip, or an item's start_frame … end_frame, at most ``multimodal.audio.max_seconds`` (its
``seconds``, else the encoder's window: 30 s for Whisper and Wav2Vec 2.0, 5 s for the Mel-CNN),
not the first 5 s of every clip; the span keys the frozen encoders' token cache; the branches
hear a clip the same however much zero padding a batch adds; a predicted window hears its span.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.data import audio_media
from tests.multimodal.conftest import mm_overrides

from vemd.config import ConfigError, load_config
from vemd.data.audio import SAMPLE_RATE, read_audio
from vemd.data.manifest import ClipRecord, write_manifest

pytest.importorskip("librosa", reason="the audio branch needs the 'audio' extra")

SECONDS = 8.0  # each video's length: longer than the old 5-s span
TINY_WAV2VEC2 = {  # one token per 20 ms, as the real encoder
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "conv_dim": [8, 8, 8],
    "conv_kernel": [10, 8, 8],
    "conv_stride": [5, 8, 8],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}
WAV2VEC2 = (
    "multimodal.audio.encoder=wav2vec2",
    f"multimodal.audio.random_wav2vec2={TINY_WAV2VEC2}".replace("'", ""),
    "multimodal.audio.seconds=null",
    "multimodal.audio.cross_dim=8",
    "multimodal.audio.cross_heads=2",
    "multimodal.audio.embed_dim=16",
    "multimodal.audio.mlp_hidden=8",
)


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """8-s videos with a tone at 10 fps; in each split a whole clip, and frames 20-60 (2-6 s) of
    the same video as an item of its own (an AffWild2-style window)."""
    root = tmp_path_factory.mktemp("long_clips")
    records = []
    for split in ("train", "val", "test"):
        name = f"{split}.mp4"
        audio_media.video(root, name, seconds=SECONDS, hz=330.0)
        records += [
            ClipRecord(f"{split}-whole", split, "Neutral", name, audio=name),
            ClipRecord(f"{split}@20", split, "Positive", name, audio=name, start_frame=20, end_frame=60),
        ]
    write_manifest(root, records, ["Negative", "Neutral", "Positive"])
    return root


def _config(root, video_model_file, *extra):
    return load_config("tiny", mm_overrides(root, video_model_file, "unused", "data.name=folder", *extra))


def _split(root, video_model_file, *extra):
    from vemd.data.multimodal import split_inputs
    from vemd.models.checkpoint import load_model
    from vemd.models.multimodal import FrozenVideo

    cfg = _config(root, video_model_file, *extra)
    video, video_cfg, _ = load_model(video_model_file)
    return cfg, split_inputs(cfg, "train", FrozenVideo(video), video_cfg, folder=None)


def _f16(samples: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(samples).to(torch.float16)


def test_a_clip_is_heard_over_its_frames_span_up_to_the_encoders_window(long_clips, video_model_file):
    _, inputs = _split(long_clips, video_model_file, *WAV2VEC2)  # no seconds: Wav2Vec 2.0's 30 s
    path = long_clips / "train.mp4"
    whole = read_audio(path).samples  # the whole track
    window = read_audio(path, start=2.0, end=6.0).samples  # frames 20-60 at 10 fps
    assert len(whole) >= SECONDS * SAMPLE_RATE - 2048 and len(window) == 4 * SAMPLE_RATE
    assert inputs.clip_ids == ["train-whole", "train@20"]
    assert inputs.waveforms.shape == (2, len(whole))
    torch.testing.assert_close(inputs.waveforms[0], _f16(whole))
    torch.testing.assert_close(inputs.waveforms[1, : len(window)], _f16(window))
    assert not inputs.waveforms[1, len(window) :].any()  # zero padding after the window's span
    assert inputs.audio_spans == [(0.0, pytest.approx(len(whole) / SAMPLE_RATE)), (2.0, 6.0)]


@pytest.mark.parametrize(
    ("extra", "cap"),
    [(("multimodal.audio.seconds=3",), 3.0), (("multimodal.audio.seconds=null",), 5.0)],  # mel_cnn: 5 s
    ids=["seconds", "mel-cnn-window"],
)
def test_the_span_is_cut_at_the_cap(long_clips, video_model_file, extra, cap):
    _, inputs = _split(long_clips, video_model_file, *extra)
    path = long_clips / "train.mp4"
    assert inputs.waveforms.shape == (2, round(cap * SAMPLE_RATE))
    torch.testing.assert_close(inputs.waveforms[0], _f16(read_audio(path, end=cap).samples))
    window = read_audio(path, start=2.0, end=min(6.0, 2 + cap)).samples
    torch.testing.assert_close(inputs.waveforms[1, : len(window)], _f16(window))
    assert not inputs.waveforms[1, len(window) :].any()
    assert inputs.audio_spans == [(0.0, cap), (2.0, min(6.0, 2 + cap))]


def test_the_span_keys_the_frozen_token_cache(long_clips, video_model_file, tmp_path):
    """The whole clip and its window are two entries; a new cap computes the spans it changes."""
    from vemd.models.checkpoint import load_model
    from vemd.models.multimodal import MultimodalVEMD
    from vemd.train.multimodal import frozen_audio_tokens

    entries = []
    for cap in ("null", "3"):
        cfg, inputs = _split(long_clips, video_model_file, *WAV2VEC2, f"multimodal.audio.seconds={cap}")
        video, _, _ = load_model(video_model_file)
        model = MultimodalVEMD(cfg, video).eval()
        tokens = frozen_audio_tokens(model, inputs, cfg, tmp_path)["acoustic"]
        # 50 tokens a second of the span heard (less one at each end of the conv stack)
        seconds = [end - start for start, end in inputs.audio_spans]
        assert [len(t) for t in tokens] == [round(50 * s) - 1 for s in seconds]
        again = frozen_audio_tokens(model, inputs, cfg, tmp_path)["acoustic"]
        for a, b in zip(tokens, again):
            torch.testing.assert_close(a, b)
        entries.append(sorted(p.name for p in tmp_path.rglob("*.safetensors")))
    assert len(entries[0]) == 2  # the whole clip's 8 s and the window's 2-6 s: not one shared key
    assert len(entries[1]) == 4  # cut at 3 s: 0-3 s and 2-5 s, new entries


def test_the_branches_hear_a_clip_alike_however_much_padding_a_batch_adds(video_model_file):
    from vemd.models.checkpoint import load_model
    from vemd.models.multimodal import MultimodalVEMD

    video, _, _ = load_model(video_model_file)
    gen = torch.Generator().manual_seed(0)
    clip = 0.1 * torch.randn(1, SAMPLE_RATE, generator=gen)  # 1 s
    padded = torch.nn.functional.pad(clip, (0, SAMPLE_RATE))  # the same, with 1 s of zeros after it
    present = torch.tensor([True])
    for extra in ((), WAV2VEC2):
        model = MultimodalVEMD(_config_without_data(video_model_file, *extra), video).eval()
        with torch.no_grad():
            one, two = model.audio(clip, present), model.audio(padded, present)
        torch.testing.assert_close(one.logits, two.logits)
        torch.testing.assert_close(one.clip, two.clip)


def _config_without_data(video_model_file, *extra):
    return load_config("tiny", mm_overrides("unused", video_model_file, "unused", *extra))


def test_a_predicted_window_hears_its_span(video_model_file, tmp_path):
    from vemd.inference.predictor import Window, WindowAudio
    from vemd.models.checkpoint import load_model, save_multimodal
    from vemd.models.multimodal import MultimodalVEMD
    from vemd.systems import load_artifact

    cfg = _config_without_data(video_model_file, *WAV2VEC2)
    video, _, class_names = load_model(video_model_file)
    path = save_multimodal(
        MultimodalVEMD(cfg, video), cfg, class_names, tmp_path / "model.pt", video_path=video_model_file
    )
    seconds = load_artifact(path).capabilities.audio_seconds
    assert seconds == 30.0  # Wav2Vec 2.0's cap: an 8-s window is heard whole
    media = audio_media.video(tmp_path, "long.mp4", seconds=SECONDS, hz=330.0)
    samples, present = WindowAudio(media, seconds, print)(Window(0.5, 8.0, []))
    heard = read_audio(media, start=0.5, end=8.0).samples
    assert present and len(samples) == round(seconds * SAMPLE_RATE)
    np.testing.assert_array_equal(samples[: len(heard)], heard)
    assert not samples[len(heard) :].any()


def test_the_cap_is_checked_against_whispers_window():
    base = ("multimodal.enabled=true", "multimodal.audio.encoder=wav2vec2+whisper")
    cfg = load_config("tiny", list(base))
    assert cfg.multimodal.audio.seconds is None and cfg.multimodal.audio.max_seconds == 30.0
    assert load_config("tiny", [*base, "multimodal.audio.seconds=12"]).multimodal.audio.max_seconds == 12.0
    with pytest.raises(ConfigError, match="multimodal.audio.seconds=45.0: Whisper hears at most its 30-s"):
        load_config("tiny", [*base, "multimodal.audio.seconds=45"])
