"""VEMDModule logs every loss term of every structural decoder and the diagnostics, each under its name."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vemd.config import load_config
from vemd.structure.skeleton import skeleton_for
from vemd.structure.targets import person_query_targets
from vemd.train.module import VEMDModule

SMALL = ["model.latent_dim=16", "model.heatmap.up_channels=[16,8,8,8]", "model.heatmap.stage_channels=8"]
B, T = 2, 2


def batch(cfg, decoder: str) -> dict:
    size = cfg.model.image_size
    out = {
        "frames": torch.randint(0, 255, (B, T, 3, size, size), dtype=torch.uint8),
        "label": torch.tensor([0, 2]),
        "clip_id": ["a", "b"],
        "target_mask": torch.ones(B, T, dtype=torch.bool),
    }
    rng = np.random.default_rng(0)
    if decoder == "heatmap":
        out["heatmaps"] = {
            m: torch.rand(B, T, skeleton_for(m, decoder).num_limbs, 56, 56) for m in cfg.model.sr.modalities
        }
        return out
    out["queries"] = {}
    for m in cfg.model.sr.modalities:
        skeleton = skeleton_for(m, decoder)
        frames = []
        for count in (1, 3, 0, 2):
            points = np.concatenate(
                [
                    rng.uniform(0, 64, (count, skeleton.num_joints, 2)),
                    np.ones((count, skeleton.num_joints, 1)),
                ],
                -1,
            )
            t = person_query_targets(points, skeleton, 64, 64)
            frames.append({k: torch.from_numpy(getattr(t, k)) for k in ("limbs", "limb_mask", "adjacency")})
        out["queries"][m] = frames
    return out


@pytest.mark.parametrize(
    ("decoder", "expected"),
    [
        (
            "heatmap",
            {
                "loss_body_heatmap_stage1",
                "loss_body_heatmap",
                "loss_face_heatmap_stage1",
                "loss_face_heatmap",
            },
        ),
        (
            "personquery",
            {"loss_body_limb", "loss_body_adj", "body_num_unmatched_persons", "face_num_unmatched_persons"},
        ),
    ],
)
def test_training_and_validation_steps_log_every_term(monkeypatch, decoder, expected):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = load_config(
        "tiny",
        [*SMALL, f"model.decoder={decoder}", "model.sr.modalities=[body,face]", "model.heatmap.num_stages=2"],
    )
    module = VEMDModule(cfg, ["a", "b", "c"])
    logged: dict[str, float] = {}
    monkeypatch.setattr(module, "log", lambda name, value, **_: logged.__setitem__(name, value))
    trainer = SimpleNamespace(train_dataloader=None)  # the steps run outside a Lightning loop
    monkeypatch.setattr(type(module), "trainer", property(lambda self: trainer))
    data = batch(cfg, decoder)
    loss = module.training_step(data, 0)
    train = {k.removeprefix("train/") for k in logged}
    assert {"loss", "loss_cls", "loss_mmd", "loss_body", "loss_face"} | expected <= train
    assert torch.isclose(loss.detach(), torch.as_tensor(logged["train/loss"]))
    logged.clear()
    module.eval().validation_step(data, 0)
    assert expected <= {k.removeprefix("val/") for k in logged}
