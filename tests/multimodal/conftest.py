"""Tiny multimodal fixtures: SynthGroups with audio and a random tiny VE-MD model file."""

from __future__ import annotations

import pytest
import torch
from tests.models.helpers import tiny_model

from vemd.config import to_dict
from vemd.model_file import FORMAT as MODEL_FORMAT

# a CPU-second audio branch and fusion
TINY_MM = (
    "multimodal.enabled=true",
    "multimodal.audio.encoder=mel_cnn",
    "multimodal.audio.seconds=2.0",
    "multimodal.audio.mel_cnn.channels=[4,8,8,8]",
    "multimodal.audio.mel_cnn.convs_per_block=1",
    "multimodal.audio.mel_cnn.dim=16",
    "multimodal.audio.mel_cnn.feedforward_dim=32",
    "multimodal.audio.mel_cnn.n_mels=32",
    "multimodal.audio.mel_cnn.num_tokens=2",
    "multimodal.fusion.dim=16",
    "multimodal.fusion.num_heads=2",
    "multimodal.fusion.mlp_hidden=16",
    "multimodal.fusion.gate_hidden=8",
    "multimodal.batch_size=8",
    "multimodal.branch_epochs=2",
    "multimodal.fusion_epochs=2",
    "multimodal.lr=0.001",
    "train.batch_size=8",
)


@pytest.fixture(scope="session")
def av_root(tmp_path_factory):
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth_av") / "data"
    return generate_dataset(
        root,
        n_train=24,
        n_val=12,
        n_test=12,
        frames=1,
        seed=0,
        max_people=3,
        image_size=64,
        audio=True,
        progress=False,
    )


@pytest.fixture(scope="session")
def video_model_file(tmp_path_factory):
    """A stage-2 tiny VE-MD (random weights) with SynthGroups' classes, as ``vemd fit`` exports it."""
    cfg, model = tiny_model("data.frames=1", "model.mode=ve-md")  # no SR decoders run at inference: fast
    path = tmp_path_factory.mktemp("video") / "model.pt"
    payload = {
        "format": MODEL_FORMAT,
        "format_version": 1,
        "vemd_version": "0",
        "config": to_dict(cfg),
        "class_names": ["Negative", "Neutral", "Positive"],
        "stage": "2",
        "state_dict": model.inference_state_dict(),
    }
    torch.save(payload, path)
    return path


def mm_overrides(av_root, video_model_file, out_dir, *extra: str) -> list[str]:
    return [
        *TINY_MM,
        f"data.root={av_root}",
        f"multimodal.video_model={video_model_file}",
        f"train.out_dir={out_dir}",
        *extra,
    ]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
