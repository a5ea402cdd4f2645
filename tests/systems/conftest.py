"""Tiny seed-system fixtures: SynthGroups with audio (EmotiW 2020) and with valence/arousal (ABAW 2024),
generated once per session, and the built-in recipes shrunk to CPU seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vemd.config import Config, load_config

EMOTIW20_RECIPE = "systems/emotiw20_synth"
ABAW24_RECIPE = "systems/abaw24_synth"
SPLIT_SIZES = {"n_train": 24, "n_val": 12, "n_test": 12}

# a ResNet-10t inflated with time kernel 1 (small stage states), 4 frames of 64 px, 2 folds,
# 2 epochs per branch (a kill can fall inside a stage)
EMOTIW20_TINY = (
    "model.image_size=64",
    "data.frames=4",
    "system.emotiw20.backbone=resnet10t",
    "system.emotiw20.time_kernel=1",
    "system.emotiw20.folds=2",
    "system.emotiw20.video.epochs=2",
    "system.emotiw20.video.batch_size=8",
    "system.emotiw20.audio.epochs=2",
    "system.emotiw20.audio.batch_size=8",
)
# 4 frames 0.5 s apart cut into two 1-s functional windows (2 frames each) for the KELM
ABAW24_TINY = (
    "model.image_size=64",
    "data.frames=4",
    "system.abaw24.backbone=test_efficientnet",
    "system.abaw24.static.epochs=1",
    "system.abaw24.dynamic.epochs=2",
    "system.abaw24.dynamic_dim=32",
    "system.abaw24.functional_window_s=1.0",
    "system.abaw24.fusion_samples=50",
)


def _synth(tmp_path_factory, name: str, **flags) -> Path:
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp(name) / "data"
    return generate_dataset(
        root, **SPLIT_SIZES, frames=4, seed=0, max_people=3, image_size=64, progress=False, **flags
    )


@pytest.fixture(scope="session")
def av_root(tmp_path_factory) -> Path:
    return _synth(tmp_path_factory, "synth_av", audio=True)


@pytest.fixture(scope="session")
def va_root(tmp_path_factory) -> Path:
    return _synth(tmp_path_factory, "synth_va", va=True)


def emotiw20_config(root: Path, out: Path, *extra: str) -> Config:
    return load_config(EMOTIW20_RECIPE, [*EMOTIW20_TINY, f"data.root={root}", f"train.out_dir={out}", *extra])


def abaw24_config(root: Path, out: Path, *extra: str) -> Config:
    return load_config(ABAW24_RECIPE, [*ABAW24_TINY, f"data.root={root}", f"train.out_dir={out}", *extra])


def fit_keeping_model(cfg: Config, *, resume: bool = False):
    """``vemd fit`` of a seed system: (its summary, the in-memory model it wrote to model.pt)."""
    import vemd.systems.abaw24.fit
    import vemd.systems.emotiw20.fit
    from vemd.systems import fit

    module = vemd.systems.emotiw20.fit if cfg.system.kind == "emotiw20" else vemd.systems.abaw24.fit
    written = []

    def keep(model, *args, **kwargs):
        written.append(model)
        return original(model, *args, **kwargs)

    original = module.save_system
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "save_system", keep)
        summary = fit(cfg, resume=resume)
    return summary, written[-1]


def split_frames(cfg: Config, split: str):
    """(ClipDataset of ``split`` without augmentation, its frames (N, T, 3, S, S) uint8)."""
    from vemd.systems.common import frames_of, split_data

    dataset, _ = split_data(cfg, split, train=False)
    return dataset, frames_of(dataset, torch.arange(len(dataset)))


def emotiw20_split_probs(model, cfg: Config, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Video and audio probabilities (N, C) each of a split's clips by ``model``, and their labels (N,)."""
    from vemd.data.multimodal import audio_path, read_waveforms

    dataset, frames = split_frames(cfg, split)
    paths = [audio_path(r, dataset.root) for r in dataset.records]
    waves, present, _ = read_waveforms(paths, cfg.system.emotiw20.audio_seconds)
    assert bool(present.all())
    video, audio = model.branch_probs(frames, waves.float().numpy())
    labels = np.array([dataset.class_names.index(r.label) for r in dataset.records])
    return video, audio, labels


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
