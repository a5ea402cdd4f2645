"""The model card's encoder line names what the model has (no ``None`` for a missing ViT branch)."""

from __future__ import annotations

from vemd.card import fit_facts, render
from vemd.config import load_config


def test_a_model_without_vit_branch_says_so():
    cfg = load_config("quickstart")  # model.vit.enabled: false
    card = render(fit_facts(cfg, ["a", "b", "c"], sizes={"train": 4}, validation={"monitor": "val/uar"}))
    assert "no ViT branch" in card and "`None`" not in card


def test_a_model_with_vit_branch_names_it():
    cfg = load_config("quickstart", ["model.vit.enabled=true"])
    card = render(fit_facts(cfg, ["a", "b", "c"], sizes={"train": 4}, validation={"monitor": "val/uar"}))
    assert f"ViT branch `{cfg.model.vit.name}`" in card
