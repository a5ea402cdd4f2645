"""The seed systems' paper recipes (configs/paper/systems/): they load, say what their headers
say, and build (without fetching pretrained weights)."""

from __future__ import annotations

import pytest
import torch

from vemd.config import CONFIG_DIR, load_config
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


def test_abaw24_affwild2_header_names_what_it_trains_and_its_papers_sections():
    """Its fusion is of the two video models: the paper's DWF rows (Table 5) all fuse its audio
    model, so the header claims none of them; the Hamming smoothing is the paper's §4.3."""
    header = " ".join(
        line.lstrip("# ")
        for line in (CONFIG_DIR / "paper/systems/abaw24_affwild2.yaml").read_text().splitlines()
        if line.startswith("#")
    )
    assert "§3.4" not in header and "§4.3: predictions interpolated" in header and "Hamming" in header
    assert 'Table 5 Sys 1 "Face-based E2E model" (0.523, 0.626, 0.574)' in header
    assert 'Table 4 "mean, min, max" (0.398, 0.581, 0.489)' in header
    assert "No row of the paper: Table 5's DWF rows" in header and "audio model" in header


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
        with torch.no_grad():
            assert model.features(frames).shape == (1, 2, 1280)
            assert model.embed(frames).shape == (1, 2, 256)  # the new layers of Fig. 2 (§3.2.1)
