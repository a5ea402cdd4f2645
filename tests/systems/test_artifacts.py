"""The seed systems as registered systems: a model file opens as an Artifact with the system's
capabilities and predicts clips, in a fresh interpreter that imports no training code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.systems.conftest import ABAW24_RECIPE, ABAW24_TINY, EMOTIW20_RECIPE, EMOTIW20_TINY

from vemd.config import load_config
from vemd.systems import SYSTEMS, Clips, load_artifact
from vemd.systems.common import save_system

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["Negative", "Neutral", "Positive"]
RECIPES = {"emotiw20": (EMOTIW20_RECIPE, EMOTIW20_TINY), "abaw24": (ABAW24_RECIPE, ABAW24_TINY)}
TRAINING = ("vemd.train", "lightning", "pytorch_lightning", "lightning_fabric")


def _tiny_file(kind: str, folder: Path, *extra: str) -> Path:
    """An untrained model file of ``kind`` (as save_system writes it) at 64 px, 4 frames; an
    EmotiW 2020 one with random out-of-fold scores, 4 clips a class, for its SVM."""
    recipe, tiny = RECIPES[kind]
    cfg = load_config(recipe, [*tiny, *extra])
    torch.manual_seed(0)
    model = SYSTEMS[kind].build(cfg)
    if kind == "emotiw20":
        scores = torch.rand(12, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        model.svm_scores = (scores / scores.sum(-1, keepdim=True)).flatten(1)
        model.svm_labels = torch.arange(3).repeat(4)
    return save_system(model, cfg, CLASSES, folder / "model.pt")


def _any_file(kind: str, folder: Path) -> Path:
    """An untrained model file of any registered system."""
    if kind in RECIPES:
        return _tiny_file(kind, folder)
    from tests.models.helpers import tiny_config, tiny_model
    from tests.multimodal.conftest import TINY_MM
    from tests.systems.legacy_v1 import vemd_payload

    from vemd.config import to_dict
    from vemd.models.checkpoint import load_model, save_model, save_multimodal
    from vemd.models.multimodal import MultimodalVEMD

    cfg, model = tiny_model("data.frames=1", "model.mode=ve-md")
    torch.save(vemd_payload(to_dict(cfg), CLASSES, model.inference_state_dict()), folder / "fit.pt")
    video_file = save_model(folder / "fit.pt", folder / "video.pt")
    if kind == "ve-md":
        return video_file
    mm_cfg = tiny_config(
        "data.frames=1", "model.mode=ve-md", *TINY_MM, f"multimodal.video_model={video_file}"
    )
    video, _, _ = load_model(video_file)
    mm = MultimodalVEMD(mm_cfg, video)
    return save_multimodal(mm, mm_cfg, CLASSES, folder / "model.pt", video_path=video_file)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SYSTEMS))
def test_predicting_with_any_system_imports_no_training_code(kind, tmp_path):
    path = _any_file(kind, tmp_path)
    code = f"""
import json, sys
import numpy as np
import vemd
from vemd.systems import load_artifact
a = load_artifact({str(path)!r})
result = vemd.load({str(path)!r}).predict(np.zeros((4, 48, 64, 3), np.uint8), fps=4)
training = [m for m in sys.modules if m.startswith({TRAINING!r})]
print(json.dumps({{"training": training, "kind": a.system.kind, "probs": result.probs is not None}}))
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed == {"training": [], "kind": kind, "probs": kind != "abaw24"}


def test_an_emotiw20_artifact_hears_its_audio_and_gives_class_probabilities(tmp_path):
    path = _tiny_file("emotiw20", tmp_path, "system.emotiw20.audio_seconds=2.0")
    artifact = load_artifact(path)
    caps = artifact.capabilities
    assert artifact.system.kind == "emotiw20" and artifact.class_names == CLASSES
    assert (caps.classes, caps.valence, caps.arousal, caps.audio_seconds, caps.smoothing_s) == (
        True,
        False,
        False,
        2.0,
        None,
    )
    for reason in (caps.export, caps.audit):
        assert reason.startswith(str(path)) and "\n" not in reason
    frames = torch.zeros(2, 4, 3, 64, 64, dtype=torch.uint8)
    heard = torch.zeros(2, 32_000).numpy()
    clips = artifact.predict_clips(frames, heard, torch.tensor([True, False]).numpy())
    assert isinstance(clips, Clips) and clips.probs.shape == (2, 3) and clips.valence is None
    # no waveforms: the clips are heard as silence, the same as zeros marked absent
    silent = artifact.predict_clips(frames)
    torch.testing.assert_close(torch.as_tensor(silent.probs), torch.as_tensor(clips.probs))
    assert artifact.image_size == 64


@pytest.mark.parametrize(("smoothing", "expected"), [("0.5", 0.5), ("0", None)])
def test_an_abaw24_artifact_gives_valence_and_arousal_without_classes(tmp_path, smoothing, expected):
    path = _tiny_file("abaw24", tmp_path, f"system.abaw24.smoothing_s={smoothing}")
    artifact = load_artifact(path)
    caps = artifact.capabilities
    assert artifact.system.kind == "abaw24"
    assert (caps.classes, caps.valence, caps.arousal, caps.audio_seconds, caps.smoothing_s) == (
        False,
        True,
        True,
        None,
        expected,
    )
    for reason in (caps.export, caps.audit):
        assert reason.startswith(str(path)) and "\n" not in reason
    clips = artifact.predict_clips(torch.zeros(3, 4, 3, 64, 64, dtype=torch.uint8))
    assert clips.probs is None and clips.valence.shape == (3,) and clips.arousal.shape == (3,)
    assert ((clips.valence >= -1) & (clips.valence <= 1)).all()


@pytest.mark.parametrize("kind", ["emotiw20", "abaw24"])
def test_a_system_file_of_format_1_loads_as_the_current_format(kind, tmp_path):
    """A file an earlier vemd wrote (format "vemd-system", version 1: the same keys) opens as the
    same model, with the same capabilities and predictions."""
    from vemd.io import load_weights_only
    from vemd.models.checkpoint import weights_digest

    (tmp_path / "new").mkdir()
    new = _tiny_file(kind, tmp_path / "new")
    data = load_weights_only(new)
    old = tmp_path / "old.pt"
    torch.save({**data, "format": "vemd-system", "format_version": 1}, old)
    a, b = load_artifact(old), load_artifact(new)
    assert a.system is b.system and a.system.kind == kind and a.class_names == b.class_names == CLASSES
    assert a.cfg == b.cfg and weights_digest(a.model) == weights_digest(b.model)
    assert a.capabilities.export.replace(str(old), str(new)) == b.capabilities.export
    frames = torch.randint(
        0, 256, (2, 4, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    for x, y in zip(vars(a.predict_clips(frames)).values(), vars(b.predict_clips(frames)).values()):
        assert (x is None and y is None) or (x == y).all()
