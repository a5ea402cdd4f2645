"""Emotion decoder: Table 7 per-frame embedding sizes, Frame Attention Pooling."""

from __future__ import annotations

import pytest
import torch

from vemd.config import load_config
from vemd.models.build import build_emotion_decoder
from vemd.models.emotion_decoder import FrameAttentionPooling


@pytest.mark.parametrize(
    ("latent_dim", "projection", "frame_dim"),
    [
        (1024, "null", 5184),
        (512, "null", 4160),
        (512, 4, 3072),
        (512, 3, 2560),
        (512, 2, 2048),
        (512, 1, 1536),
        (512, 0.5, 1280),
    ],
)
def test_table7_frame_embedding_sizes(latent_dim, projection, frame_dim):
    cfg = load_config("default", [f"model.latent_dim={latent_dim}", f"model.sr.projection={projection}"])
    assert cfg.model.sr.modalities == ["body"] and cfg.model.decoder == "heatmap"
    with torch.device("meta"):
        decoder = build_emotion_decoder(cfg.model)
    assert decoder.frame_dim == frame_dim
    assert decoder.pool.score.in_features == frame_dim
    assert decoder.phi.in_features == 2 * latent_dim * 7 * 7 and decoder.phi.out_features == 2 * latent_dim


def test_frame_attention_pooling_is_a_convex_combination_of_frames():
    pool = FrameAttentionPooling(4)
    frames = torch.randn(3, 5, 4)
    pooled = pool(frames)
    weights = pool.score(frames).softmax(1)
    torch.testing.assert_close(pooled, (weights * frames).sum(1))
    torch.testing.assert_close(pool(frames[:, [0, 0, 0]]), frames[:, 0])


def test_non_divisible_heads_fail_with_a_clear_message():
    cfg = load_config("default", ["model.emotion.num_heads=7"])
    with pytest.raises(ValueError, match="num_heads=7"), torch.device("meta"):
        build_emotion_decoder(cfg.model)


def test_pooled_phi_sees_the_spatial_mean_of_the_latent():
    cfg = load_config("tiny", ["model.emotion.phi=pool", "model.mode=ve-sd"])
    decoder = build_emotion_decoder(cfg.model).eval()
    c = 2 * cfg.model.latent_dim
    assert decoder.phi.in_features == c
    latent = torch.randn(2, 3, c, cfg.model.latent_size, cfg.model.latent_size)
    # moving content around the grid leaves the pooled embedding unchanged
    shuffled = latent.flatten(-2)[..., torch.randperm(cfg.model.latent_size**2)].view_as(latent)
    torch.testing.assert_close(decoder.frame_embeddings(latent, {}), decoder.frame_embeddings(shuffled, {}))
    with pytest.raises(ValueError, match="model.emotion.phi"):
        build_emotion_decoder(load_config("tiny", ["model.emotion.phi=max"]).model)


def test_sr_gate_starts_closed_and_opens_under_the_classification_loss():
    cfg = load_config("tiny", ["model.mode=ve-md-sr", "model.sr.modalities=[body,face]"])
    decoder = build_emotion_decoder(cfg.model).eval()
    c, s = 2 * cfg.model.latent_dim, cfg.model.latent_size
    latent = torch.randn(2, 3, c, s, s)
    sr_a = {m: torch.rand(2, 3, 56 * 56) * 9 for m in ("body", "face")}
    sr_b = {m: torch.rand(2, 3, 56 * 56) * 9 for m in ("body", "face")}
    # an untrained structural decoder's SR cannot move the logits at the start of training
    torch.testing.assert_close(decoder(latent, sr_a), decoder(latent, sr_b))
    torch.nn.functional.cross_entropy(decoder(latent, sr_a), torch.tensor([0, 2])).backward()
    for name, gate in decoder.sr_gate.items():
        assert gate.item() == 0.0 and gate.grad.abs().item() > 0, name
    with torch.no_grad():
        for gate in decoder.sr_gate.values():
            gate.fill_(1.0)
    assert not torch.allclose(decoder(latent, sr_a), decoder(latent, sr_b))


def test_ungated_sr_is_the_papers_plain_concatenation():
    cfg = load_config("tiny", ["model.mode=ve-md-sr", "model.sr.gate=false"])
    decoder = build_emotion_decoder(cfg.model).eval()
    assert len(decoder.sr_gate) == 0
    c, s = 2 * cfg.model.latent_dim, cfg.model.latent_size
    latent, sr = torch.randn(1, 2, c, s, s), {"body": torch.rand(1, 2, 56 * 56)}
    embedding = decoder.frame_embeddings(latent, sr)
    torch.testing.assert_close(embedding[..., c:], decoder.sr["body"](sr["body"]))
