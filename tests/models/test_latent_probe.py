"""The latent probe (``model.latent_probe``): a training-only linear classifier on the pooled latent."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vemd.config import to_dict
from vemd.models import build_model
from vemd.models.build import build_criterion
from vemd.models.checkpoint import load_model

from .helpers import B, T, frames, tiny_model, write_model_file

LABELS = torch.tensor([0, 2])


@pytest.mark.parametrize("mode", ["ve-sd", "ve-md-sr"])
def test_the_probe_reads_the_latent_pooled_over_space_and_frames(mode):
    cfg, model = tiny_model(f"model.mode={mode}", "model.latent_probe=true")
    out = model.train()(frames(cfg), auxiliary=True)
    assert out.latent_logits.shape == (B, cfg.model.num_classes)
    pooled = out.latent.mean(dim=(-2, -1)).view(B, T, -1).mean(1)
    torch.testing.assert_close(out.latent_logits, model.latent_probe(pooled))


def test_the_probe_adds_its_weighted_cross_entropy_and_trains_the_encoder():
    cfg, model = tiny_model("model.mode=ve-sd", "model.latent_probe=true", "loss.latent_probe=0.5")
    criterion = build_criterion(cfg.loss, model, cfg.model.decoder)
    out = model.train()(frames(cfg), auxiliary=True)
    terms, _ = criterion(out, LABELS)
    torch.testing.assert_close(terms["loss_latent_probe"], F.cross_entropy(out.latent_logits, LABELS))
    expected = terms["loss_cls"] + 0.5 * terms["loss_latent_probe"] + cfg.loss.mmd * terms["loss_mmd"]
    torch.testing.assert_close(terms["loss"], expected)
    # the probe's term alone reaches the encoder, not the emotion decoder
    terms["loss_latent_probe"].backward()
    assert model.latent_probe.weight.grad.abs().sum() > 0
    assert model.encoder.cnn_branch.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.emotion_decoder.parameters())


def test_the_probe_never_runs_at_inference_and_stays_out_of_model_files(tmp_path):
    cfg, model = tiny_model("model.mode=ve-md-sr", "model.latent_probe=true")
    assert model.eval()(frames(cfg)).latent_logits is None
    assert any(k.startswith("latent_probe.") for k in model.state_dict())
    state = model.inference_state_dict()
    assert not any("probe" in k for k in state)
    assert build_model(cfg.model, inference=True).latent_probe is None
    write_model_file(tmp_path / "model.pt", to_dict(cfg), state)
    loaded, _, _ = load_model(tmp_path / "model.pt")
    assert loaded.latent_probe is None
    torch.testing.assert_close(loaded(frames(cfg)).logits, model(frames(cfg)).logits)


def test_without_the_switch_there_is_no_probe_and_no_term():
    cfg, model = tiny_model("model.mode=ve-sd")
    assert cfg.model.latent_probe is False and model.latent_probe is None
    terms, _ = build_criterion(cfg.loss, model, cfg.model.decoder)(model.train()(frames(cfg)), LABELS)
    assert "loss_latent_probe" not in terms
