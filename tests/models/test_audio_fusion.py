"""Mel-CNN audio branch, audio→video cross-attention, late fusion and AFG: shapes, gradients, masks."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from vemd.models.audio.mel_cnn import LogMel, MelCNNTransformer
from vemd.models.emotion_decoder import FrameAttentionPooling
from vemd.models.fusion import AFG, AudioVideoCrossAttention, LateFusion, masked_mean
from vemd.models.fusion.late import masked_attention_pool

SR, N = 16_000, 4_000  # a quarter second of audio
B, T, C = 3, 4, 3  # clips, video tokens, classes
DIMS = {"video": 12, "audio": 10, "text": 8}


def tiny_audio(**kwargs) -> MelCNNTransformer:
    torch.manual_seed(0)
    sizes = dict(channels=(4, 4, 8, 8), convs_per_block=1, dim=16, num_heads=2, feedforward_dim=32)
    return MelCNNTransformer(**{**sizes, **kwargs})


def tiny_cross() -> AudioVideoCrossAttention:
    torch.manual_seed(0)
    return AudioVideoCrossAttention(
        audio_dim=DIMS["audio"], video_dim=DIMS["video"], num_classes=C, dim=16, num_heads=2, dropout=0.0
    )


def tiny_late() -> LateFusion:
    torch.manual_seed(0)
    return LateFusion(input_dims=DIMS, num_classes=C, dim=16, num_heads=2, mlp_hidden=8, dropout=0.0)


def tiny_afg() -> AFG:
    torch.manual_seed(0)
    return AFG(
        audio_dim=DIMS["audio"],
        video_dim=DIMS["video"],
        num_classes=C,
        dim=16,
        gate_hidden=8,
        mlp_hidden=8,
        dropout=0.0,
    )


def randn(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def assert_every_parameter_learns(module: torch.nn.Module, logits: torch.Tensor) -> None:
    assert torch.isfinite(logits).all()
    logits.square().mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def chirp_with_noise(n: int = SR) -> np.ndarray:
    t = np.arange(n) / SR
    noise = np.random.default_rng(0).standard_normal(n)
    return (0.5 * np.sin(2 * np.pi * (200 + 800 * t) * t) + 0.05 * noise).astype(np.float32)


# --- LogMel -----------------------------------------------------------------------------------


def test_log_mel_matches_librosa_melspectrogram():
    y = chirp_with_noise()
    settings = dict(sr=SR, n_fft=512, win_length=400, hop_length=160, n_mels=128)
    reference = librosa.feature.melspectrogram(
        y=y.astype(np.float64), window="hann", center=True, pad_mode="constant", power=2.0, **settings
    )
    ours = LogMel()(torch.from_numpy(np.stack([y, y[::-1].copy()])))
    assert ours.shape == (2, 1, 128, 1 + SR // 160)
    # float32 STFT against librosa in float64: the log of the Mel power differs by its relative
    # error, measured 5e-5 at most (over bins down to 2e-6, well above eps = 1e-6); 1e-3 (0.1 %)
    # leaves room for other FFT back ends and fails for any other window, padding or filterbank.
    np.testing.assert_allclose(ours[0, 0].numpy(), np.log(reference + 1e-6), rtol=0, atol=1e-3)
    flipped = librosa.feature.melspectrogram(y=y[::-1].astype(np.float64), pad_mode="constant", **settings)
    np.testing.assert_allclose(ours[1, 0].numpy(), np.log(flipped + 1e-6), rtol=0, atol=1e-3)


def test_log_mel_filterbank_is_a_buffer_not_a_parameter():
    log_mel = LogMel(n_mels=64)
    assert not list(log_mel.parameters())
    assert log_mel.mel_basis.shape == (64, 257) and "mel_basis" not in log_mel.state_dict()
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        log_mel(torch.zeros(N))


# --- MelCNNTransformer ------------------------------------------------------------------------


@pytest.mark.parametrize(("num_tokens", "num_samples"), [(None, N), (None, 100), (5, N)])
def test_mel_cnn_shapes(num_tokens, num_samples):
    model = tiny_audio(num_tokens=num_tokens, num_classes=C)
    out = model(randn(B, num_samples))
    steps = 1 + num_samples // 160
    expected = num_tokens or -(-steps // 16)  # four 2× pools, rounded up
    assert out.tokens.shape == (B, expected, 16) and model.sequence_length(num_samples) == expected
    assert out.token_mask.shape == (B, expected) and out.token_mask.all()
    assert out.clip.shape == (B, 16) and out.logits.shape == (B, C)
    torch.testing.assert_close(out.clip, out.tokens.mean(1))
    assert tiny_audio()(randn(B, N)).logits is None


def test_mel_cnn_every_parameter_gets_a_gradient():
    model = tiny_audio(num_classes=C)
    assert_every_parameter_learns(model, model(randn(B, N), torch.tensor([True, False, True])).logits)


def test_mel_cnn_clip_without_audio_is_zero_masked_and_leaves_the_others_unchanged():
    model = tiny_audio(num_classes=C).eval()
    waveform = randn(B, N)
    waveform[1] = float("nan")  # whatever a clip without audio holds never enters the branch
    out = model(waveform, torch.tensor([True, False, True]))
    assert torch.isfinite(out.tokens).all() and torch.isfinite(out.logits).all()
    assert not out.token_mask[1].any() and out.token_mask[[0, 2]].all()
    assert (out.tokens[1] == 0).all() and (out.clip[1] == 0).all()
    alone = model(waveform[[0, 2]])
    torch.testing.assert_close(out.tokens[[0, 2]], alone.tokens)
    with pytest.raises(ValueError, match="audio mask"):
        model(waveform, torch.ones(B))
    nothing = model(waveform, torch.zeros(B, dtype=torch.bool))
    assert (nothing.tokens == 0).all() and not nothing.token_mask.any()


def test_mel_cnn_batch_statistics_ignore_clips_without_audio():
    model = tiny_audio().train()
    waveform = randn(B, N)
    torch.manual_seed(5)  # the same dropout draws in both runs
    masked = model(waveform, torch.tensor([True, False, True])).tokens
    torch.manual_seed(5)
    alone = model(waveform[[0, 2]]).tokens
    torch.testing.assert_close(masked[[0, 2]], alone)


# --- AudioVideoCrossAttention -----------------------------------------------------------------


def cross_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return randn(B, T, DIMS["video"], seed=1), randn(B, 5, DIMS["audio"], seed=2)


def test_masked_mean_leaves_masked_tokens_out_even_nan():
    tokens = randn(2, 3, 4)
    tokens[0, 2] = float("nan")
    mask = torch.tensor([[True, True, False], [False, False, False]])
    pooled = masked_mean(tokens, mask)
    torch.testing.assert_close(pooled[0], tokens[0, :2].mean(0))
    assert (pooled[1] == 0).all()


def test_cross_attention_shapes_and_gradients():
    model = tiny_cross()
    video, audio = cross_inputs()
    assert model.features(video, audio).shape == (B, 3 * 16)
    logits = model(video, audio)
    assert logits.shape == (B, C)
    assert_every_parameter_learns(model, logits)


def test_cross_attention_clip_without_audio_falls_back_to_the_video_path():
    model = tiny_cross().eval()
    video, audio = cross_inputs()
    audio[1] = float("nan")
    present = torch.tensor([True, False, True])
    logits = model(video, audio, audio_mask=present)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits[1:2], model(video[1:2]))  # the video-only path
    features = model.features(video, audio, audio_mask=present)
    assert (features[1, : 2 * 16] == 0).all()
    # the others keep their audio: they differ from the video-only path
    assert not torch.allclose(logits[[0, 2]], model(video[[0, 2]]))


def test_cross_attention_ignores_masked_tokens():
    model = tiny_cross().eval()
    video, audio = cross_inputs()
    video_mask = torch.ones(B, T, dtype=torch.bool)
    video_mask[0, -1] = False
    audio_mask = torch.ones(B, 5, dtype=torch.bool)
    audio_mask[2, :2] = False
    logits = model(video, audio, video_mask=video_mask, audio_mask=audio_mask)
    # a masked token is as good as absent
    torch.testing.assert_close(logits[0:1], model(video[0:1, :-1], audio[0:1]))
    torch.testing.assert_close(logits[2:3], model(video[2:3], audio[2:3, 2:]))
    video2, audio2 = video.clone(), audio.clone()
    video2[0, -1] = float("nan")
    audio2[2, :2] = float("nan")
    again = model(video2, audio2, video_mask=video_mask, audio_mask=audio_mask)
    torch.testing.assert_close(again, logits)
    again.sum().backward()  # nothing masked reaches the gradients either
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ValueError, match="video token"):
        model(video, audio, video_mask=torch.zeros(B, T, dtype=torch.bool))
    with pytest.raises(ValueError, match="audio_mask"):
        model(video, audio, audio_mask=torch.ones(B, 4, dtype=torch.bool))


def test_cross_attention_takes_the_mel_branch_tokens():
    branch = tiny_audio()
    model = AudioVideoCrossAttention(audio_dim=16, video_dim=DIMS["video"], num_classes=C, dim=16)
    audio = branch(randn(B, N), torch.tensor([True, False, True]))
    logits = model(cross_inputs()[0], audio.tokens, audio_mask=audio.token_mask)
    assert logits.shape == (B, C) and torch.isfinite(logits).all()


# --- LateFusion -------------------------------------------------------------------------------


def late_inputs() -> dict[str, torch.Tensor]:
    return {name: randn(B, width, seed=i) for i, (name, width) in enumerate(DIMS.items())}


def test_masked_attention_pool_is_fap_when_nothing_is_masked():
    pool = FrameAttentionPooling(6)
    tokens = randn(2, 3, 6)
    torch.testing.assert_close(
        masked_attention_pool(pool, tokens, torch.ones(2, 3, dtype=torch.bool)), pool(tokens)
    )
    only_first = torch.tensor([[True, False, False]] * 2)
    torch.testing.assert_close(masked_attention_pool(pool, tokens, only_first), tokens[:, 0])


@pytest.mark.parametrize(
    "names", [("video",), ("video", "audio"), ("video", "audio", "text"), ("audio", "text")]
)
def test_late_fusion_shapes_for_any_subset(names):
    inputs = late_inputs()
    logits = tiny_late()({name: inputs[name] for name in names})
    assert logits.shape == (B, C) and torch.isfinite(logits).all()


def test_late_fusion_every_parameter_gets_a_gradient():
    model = tiny_late()
    mask = {"audio": torch.tensor([True, False, True])}
    assert_every_parameter_learns(model, model(late_inputs(), mask))


def test_late_fusion_output_does_not_see_a_masked_modality():
    model = tiny_late().eval()
    inputs = late_inputs()
    mask = {"audio": torch.tensor([True, False, True]), "text": torch.tensor([False, True, True])}
    logits = model(inputs, mask)
    changed = {**inputs, "audio": inputs["audio"].clone(), "text": inputs["text"].clone()}
    changed["audio"][1] = float("nan")
    changed["text"][0] = 1e3
    again = model(changed, mask)
    torch.testing.assert_close(again, logits)
    again.sum().backward()  # nothing masked reaches the gradients either
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    # the unmasked items do see what changes in theirs
    changed["audio"][0] += 1
    assert not torch.allclose(model(changed, mask)[0], logits[0])


def test_late_fusion_batched_equals_one_by_one_with_masks():
    model = tiny_late().eval()
    inputs = late_inputs()
    mask = {"audio": torch.tensor([True, False, True]), "text": torch.tensor([False, True, False])}
    batched = model(inputs, mask)
    for i in range(B):
        # one by one, a masked modality is simply not given
        kept = {name: x[i : i + 1] for name, x in inputs.items() if name not in mask or mask[name][i]}
        torch.testing.assert_close(batched[i : i + 1], model(kept))


def test_late_fusion_rejects_unknown_or_empty_inputs():
    model = tiny_late()
    with pytest.raises(ValueError, match="no projection"):
        model({"depth": randn(B, 4)})
    with pytest.raises(ValueError, match=r"mask\['audio'\] must be"):
        model({"audio": randn(B, DIMS["audio"])}, {"audio": torch.ones(B)})
    with pytest.raises(ValueError, match="at least one present"):
        model({"audio": randn(B, DIMS["audio"])}, {"audio": torch.tensor([True, False, True])})


# --- AFG --------------------------------------------------------------------------------------


def test_afg_shapes_weights_and_gradients():
    model = tiny_afg()
    logits, alpha = model(randn(B, DIMS["audio"]), randn(B, DIMS["video"], seed=2))
    assert logits.shape == (B, C) and alpha.shape == (B, 2)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(B))
    assert (alpha > 0).all()
    assert_every_parameter_learns(model, logits)


def test_afg_without_audio_weights_the_video_alone():
    model = tiny_afg().eval()
    audio, video = randn(B, DIMS["audio"]), randn(B, DIMS["video"], seed=2)
    audio[1] = float("nan")
    present = torch.tensor([True, False, True])
    logits, alpha = model(audio, video, present)
    assert torch.isfinite(logits).all() and torch.isfinite(alpha).all()
    assert alpha[1, 1] == 1 and alpha[1, 0] == 0 and (alpha[[0, 2], 1] < 1).all()
    with pytest.raises(ValueError, match="audio_mask"):
        model(audio, video, present[:2])
    h, _ = model.fuse(audio, video, present)
    torch.testing.assert_close(h[1], model.video_proj(video[1]))
    audio2 = audio.clone()
    audio2[1] = 0
    torch.testing.assert_close(model(audio2, video, present)[0], logits)
    logits.sum().backward()  # nothing masked reaches the gradients either
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
