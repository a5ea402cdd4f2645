"""Shared tiny builders for the model tests."""

from __future__ import annotations

import torch

from vemd.config import Config, load_config
from vemd.models import build_model

B, T = 2, 2

# The tiny recipe made smaller still (64×64 input, narrow decoders); the latent stays 7×7 and
# the heatmaps 56×56 as in the paper.
SMALL = (
    "model.image_size=64",
    "model.vit.kwargs.img_size=64",
    "model.latent_dim=16",
    "model.heatmap.up_channels=[32,16,16,16]",
    "model.heatmap.stage_channels=16",
    "model.emotion.mlp_hidden=32",
    "model.emotion.feedforward_dim=32",
)


def tiny_config(*overrides: str) -> Config:
    return load_config("tiny", [*SMALL, *overrides])


def tiny_model(*overrides: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = tiny_config(*overrides)
    return cfg, build_model(cfg.model)


def frames(cfg: Config, b: int = B, t: int = T) -> torch.Tensor:
    size = cfg.model.image_size
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(1))


def heatmap_targets(cfg: Config, b: int = B, t: int = T) -> dict[str, torch.Tensor]:
    from vemd.structure.skeleton import skeleton_for

    size = cfg.model.heatmap.size
    gen = torch.Generator().manual_seed(2)
    return {
        m: torch.rand(b, t, skeleton_for(m, "heatmap").num_limbs, size, size, generator=gen)
        for m in cfg.model.sr.modalities
    }


def personquery_targets(cfg: Config, counts: list[int], seed: int = 3) -> dict[str, list[dict]]:
    """Per-frame PersonQuery targets (B·T frames, ``counts[i]`` persons in frame i) from random keypoints."""
    import numpy as np

    from vemd.structure.skeleton import skeleton_for
    from vemd.structure.targets import person_query_targets

    rng = np.random.default_rng(seed)
    out = {}
    for modality in cfg.model.sr.modalities:
        skeleton = skeleton_for(modality, "personquery")
        frames = []
        for count in counts:
            xy = rng.uniform(0, 64, (count, skeleton.num_joints, 2))
            visible = rng.random((count, skeleton.num_joints, 1)) > 0.2
            t = person_query_targets(np.concatenate([xy, visible], axis=-1), skeleton, 64, 64)
            frames.append({k: torch.from_numpy(getattr(t, k)) for k in ("limbs", "limb_mask", "adjacency")})
        out[modality] = frames
    return out


def write_model_file(path, config: dict, state_dict: dict, stage: str = "2") -> None:
    """A ``model.pt`` as ``vemd fit`` exports it, with the given (possibly edited) config dict."""
    from vemd.model_file import FORMAT as MODEL_FORMAT

    payload = {
        "format": MODEL_FORMAT,
        "format_version": 1,
        "vemd_version": "0",
        "config": config,
        "class_names": ["a", "b", "c"],
        "stage": stage,
        "state_dict": state_dict,
    }
    torch.save(payload, path)
