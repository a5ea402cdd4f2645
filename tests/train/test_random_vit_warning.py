"""Stage 2 says so when its ViT branch is random and frozen (fixed random features in the latent)."""

from __future__ import annotations

import logging

import pytest

from vemd.config import load_config
from vemd.train.fit import warn_random_frozen_vit


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        ([], False),  # the quickstart has no ViT branch: no ViT weights offline
        (["model.vit.enabled=true"], True),
        (["model.vit.enabled=true", "model.vit.weights=vit.pth"], False),
        (["model.vit.enabled=true", "model.vit.pretrained=true"], False),
        (["model.vit.enabled=true", "model.vit.frozen=false"], False),  # trained with the rest
    ],
)
def test_a_random_frozen_vit_is_named_in_one_warning(caplog, overrides, warned):
    cfg = load_config("quickstart", overrides)
    with caplog.at_level(logging.WARNING, logger="vemd.train.fit"):
        warn_random_frozen_vit(cfg)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == int(warned)
    if warned:
        assert "random and frozen" in lines[0] and "model.vit.enabled=false" in lines[0]
