"""Criterion: weights, frame masks, known values, diagnostics kept out of the loss."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vemd.config import LossConfig
from vemd.models import build_criterion

from .helpers import frames, heatmap_targets, personquery_targets, tiny_model


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
    losses, _ = criterion(out, torch.tensor([0, 1]), targets=heatmap_targets(cfg))
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
    losses, _ = criterion(out, torch.tensor([0, 1]), targets=targets, target_mask=mask)
    assert losses["loss_body_heatmap"].item() < 1e-10 and losses["loss_face_heatmap"].item() < 1e-10
    assert losses["loss_body_heatmap_stage1"].item() > 1e-3  # the targets are the last stage's
    assert criterion(out, torch.tensor([0, 1]), targets=targets)[0]["loss_body_heatmap"].item() > 1e-3
    none, _ = criterion(
        out, torch.tensor([0, 1]), targets=targets, target_mask=torch.zeros(2, 2, dtype=torch.bool)
    )
    assert none["loss_body"].item() == 0.0 and none["loss_body"].requires_grad


@pytest.mark.parametrize("supervision", ["all", "last"])
def test_heatmap_loss_sums_the_supervised_stages(supervision):
    """L_p is the sum of every stage's MSE (as released), or the last stage's; all are logged."""
    cfg, model = tiny_model("model.heatmap.num_stages=3", f"model.heatmap.supervision={supervision}")
    criterion = build_criterion(cfg.loss, model, "heatmap")
    losses, _ = criterion(model.train()(frames(cfg)), torch.tensor([0, 1]), targets=heatmap_targets(cfg))
    stages = [losses[f"loss_body_heatmap_stage{s}"] for s in (1, 2)] + [losses["loss_body_heatmap"]]
    expected = sum(stages) if supervision == "all" else stages[-1]
    torch.testing.assert_close(losses["loss_body"], expected)


def test_structural_terms_are_absent_without_predictions(setup):
    cfg, model, x, out = setup
    criterion = build_criterion(cfg.loss, model, "heatmap")
    losses, diagnostics = criterion(out, torch.tensor([0, 1]))
    assert set(losses) == {"loss", "loss_cls", "loss_mmd"} and not diagnostics


@pytest.fixture(scope="module")
def personquery_setup():
    cfg, model = tiny_model(
        "model.decoder=personquery", "model.sr.modalities=[body,face]", "model.personquery.num_queries.body=3"
    )
    x = frames(cfg)
    return cfg, model, model.train()(x), personquery_targets(cfg, [2, 5, 0, 1])  # 2 persons beyond Q=3


def test_personquery_loss_is_the_beta_weighted_sum_of_limb_and_adjacency_terms(personquery_setup):
    """L_p = β_limb·L_limb + β_adj·L_adj (§3.2.1), with β from ``loss.limb``/``loss.adj``; the
    count of unmatched persons is a diagnostic, not a loss term."""
    cfg, model, out, targets = personquery_setup
    loss_cfg = replace(cfg.loss, limb=0.7, adj=0.2, body=0.3, face=2.0, mmd=0.5)
    criterion = build_criterion(loss_cfg, model, "personquery")
    losses, diagnostics = criterion(out, torch.tensor([0, 1]), targets=targets)
    for modality in ("body", "face"):
        terms, _ = model.struct_decoders[modality].loss(out.structure(modality), targets[modality])
        torch.testing.assert_close(losses[f"loss_{modality}_limb"], terms["loss_limb"])
        torch.testing.assert_close(losses[f"loss_{modality}_adj"], terms["loss_adj"])
        expected = 0.7 * terms["loss_limb"] + 0.2 * terms["loss_adj"]
        torch.testing.assert_close(losses[f"loss_{modality}"], expected)
    assert diagnostics["body_num_unmatched_persons"].item() == 2
    assert diagnostics["face_num_unmatched_persons"].item() == 0
    expected_total = (
        losses["loss_cls"] + 0.3 * losses["loss_body"] + 2.0 * losses["loss_face"] + 0.5 * losses["loss_mmd"]
    )
    torch.testing.assert_close(losses["loss"], expected_total)


def test_only_weighted_terms_enter_the_total(personquery_setup):
    cfg, model, out, targets = personquery_setup
    criterion = build_criterion(cfg.loss, model, "personquery")
    assert set(criterion.weight_dict) == {
        "loss_cls",
        "loss_mmd",
        "loss_kl",
        "loss_recon",
        "loss_body",
        "loss_face",
    }
    assert criterion.struct_weight_dicts["body"] == {"loss_limb": 1.0, "loss_adj": 0.5}
    torch.manual_seed(0)  # the MMD draws prior samples
    losses, diagnostics = criterion(out, torch.tensor([0, 1]), targets=targets)
    assert not any(k.startswith("loss") for k in diagnostics)
    criterion.weight_dict.pop("loss_face")  # a term without a weight is logged, not summed
    torch.manual_seed(0)
    without_face, _ = criterion(out, torch.tensor([0, 1]), targets=targets)
    torch.testing.assert_close(without_face["loss"], losses["loss"] - 0.1 * losses["loss_face"])
