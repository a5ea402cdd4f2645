"""A tiny SynthGroups set and a tiny training recipe shared by the training tests."""

import os

import pytest

# Small enough to train a few steps in seconds; the same recipe runs every mode.
TINY = [
    "model.heatmap.up_channels=[32,16,8,8]",
    "model.heatmap.stage_channels=8",
    "model.heatmap.num_stages=1",
    "model.cnn.custom_channels=[8,16,24,32]",
    "data.frames=2",
    "train.batch_size=4",
    "train.max_epochs=2",
    "train.stage1_epochs=1",
    "train.lr=0.001",
    "train.checkpoint_every_n_steps=1",
    "train.log_every_n_steps=1",
]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth") / "data"
    return generate_dataset(root, n_train=16, n_val=8, frames=2, seed=0, max_people=4, progress=False)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CI", os.environ.get("CI", "1"))
