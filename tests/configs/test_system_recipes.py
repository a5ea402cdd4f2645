"""The seed systems' paper recipes (configs/paper/systems/): they load, say what their headers
say, and build (without fetching pretrained weights)."""

from __future__ import annotations

import pytest
import torch

from vemd.config import load_config
from vemd.systems import SYSTEMS


def test_emotiw20_vgaf_recipe_has_the_papers_settings():
    cfg = load_config("paper/systems/emotiw20_vgaf")
    e = cfg.system.emotiw20
    assert (cfg.system.kind, cfg.data.name, cfg.model.num_classes) == ("emotiw20", "vgaf", 3)
    assert (cfg.data.frames, cfg.data.sampling, cfg.data.frame_interval) == (10, "fps", 0.5)  # §III-C
    assert (e.backbone, e.time_kernel, e.train_backbone) == ("resnet50", None, False)  # §II-B, §III-D
    assert (e.video.optimizer, e.video.lr, e.video.batch_size, e.video.epochs) == ("adam", 1e-5, 32, 250)
    assert (e.audio.lr, e.audio.batch_size, e.audio.epochs, e.audio.patience) == (1e-2, 128, 200, 15)
    assert (e.audio_window_s, e.audio_hop_s, e.audio_seconds) == (0.025, 0.010, 5.0)


def test_abaw24_affwild2_recipe_has_the_papers_settings():
    cfg = load_config("paper/systems/abaw24_affwild2")
    a = cfg.system.abaw24
    assert (cfg.system.kind, cfg.data.name) == ("abaw24", "affwild2")
    assert cfg.data.frame_interval == pytest.approx(0.2)  # 5 fps
    assert 1 <= cfg.data.frames * cfg.data.frame_interval <= 8  # the 1-8 s windows of §3.2
    assert (a.backbone, a.static_loss, a.functionals, a.functional_window_s) == (
        "efficientnet_b1",
        "logcosh",
        ["mean", "min", "max"],
        2.0,
    )
    assert (a.static.optimizer, a.static.lr, a.static.patience, a.smoothing_s) == ("adamw", 5e-3, 10, 0.5)


@pytest.mark.parametrize("recipe", ["paper/systems/emotiw20_vgaf", "paper/systems/abaw24_affwild2"])
def test_paper_system_recipe_builds(recipe):
    cfg = load_config(recipe, [f"system.{recipe.split('/')[-1].split('_')[0]}.pretrained=false"])
    model = SYSTEMS[cfg.system.kind].build(cfg)
    if cfg.system.kind == "emotiw20":
        frames = torch.zeros(1, cfg.data.frames, 3, 64, 64, dtype=torch.uint8)
        assert model.video(frames).shape == (1, 3)
    else:
        assert model.backbone.num_features == 1280  # EfficientNet-B1's embedding
        frames = torch.zeros(1, 2, 3, 64, 64, dtype=torch.uint8)
        assert model.embed(frames).shape == (1, 2, 1280)
