"""Criterion: weights, frame masks, known values."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vemd.config import LossConfig
from vemd.models import build_criterion

from .helpers import frames, heatmap_targets, tiny_model


@pytest.fixture(scope="module")
def setup():
    cfg, model = tiny_model("model.sr.modalities=[body,face]")
    x = frames(cfg)
    return cfg, model, x, model.train()(x)


def test_paper_default_structural_weights():
    loss = LossConfig()
    assert loss.struct_weight("body", "heatmap") == 1.0 and loss.struct_weight("face", "personquery") == 0.1
    assert loss.mmd == 0.1
    assert LossConfig(body=0.3).struct_weight("body", "heatmap") == 0.3


def test_total_is_the_weighted_sum_of_terms(setup):
    cfg, model, x, out = setup
    criterion = build_criterion(replace(cfg.loss, body=2.0, mmd=0.5), model, "heatmap")
    losses = criterion(out, torch.tensor([0, 1]), targets=heatmap_targets(cfg))
    expected = (
        losses["loss_cls"] + 2.0 * losses["loss_body"] + 1.0 * losses["loss_face"] + 0.5 * losses["loss_mmd"]
    )
    torch.testing.assert_close(losses["loss"], expected)


def test_heatmap_loss_is_zero_on_its_own_prediction_and_masks_unannotated_frames(setup):
    cfg, model, x, out = setup
    criterion = build_criterion(cfg.loss, model, "heatmap")
    targets = {
        m: torch.sigmoid(out.structure(m)["pred_heatmaps"]).detach().view(2, 2, -1, 56, 56)
        for m in ("body", "face")
    }
    mask = torch.tensor([[True, False], [True, False]])
    targets["body"][:, 1] = 1.0 - targets["body"][:, 1]
    losses = criterion(out, torch.tensor([0, 1]), targets=targets, target_mask=mask)
    assert losses["loss_body"].item() < 1e-10 and losses["loss_face"].item() < 1e-10
    assert criterion(out, torch.tensor([0, 1]), targets=targets)["loss_body"].item() > 1e-3
    none = criterion(
        out, torch.tensor([0, 1]), targets=targets, target_mask=torch.zeros(2, 2, dtype=torch.bool)
    )
    assert none["loss_body"].item() == 0.0 and none["loss_body"].requires_grad


def test_structural_terms_are_absent_without_predictions(setup):
    cfg, model, x, out = setup
    criterion = build_criterion(cfg.loss, model, "heatmap")
    losses = criterion(out, torch.tensor([0, 1]))
    assert set(losses) == {"loss", "loss_cls", "loss_mmd"}
