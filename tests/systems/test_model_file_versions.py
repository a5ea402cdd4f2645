"""One reader for every model file: files of the format-1 writers (vemd 0.1.0) load as the
current ones do, into the same system, weights and predictions."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from tests.models.helpers import tiny_config, tiny_model
from tests.multimodal.conftest import TINY_MM
from tests.systems import legacy_v1

from vemd.config import to_dict
from vemd.model_file import FORMAT, FORMAT_VERSION, CheckpointError, read_model_file
from vemd.models.checkpoint import load_model, save_model, save_multimodal, weights_digest
from vemd.systems import load_artifact

CLASSES = ["a", "b", "c"]


def _frames(size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (2, 1, 3, size, size), generator=gen, dtype=torch.uint8)


def _named(capabilities, names: dict):
    """Capabilities with the file names in their reasons replaced (the same text for either file)."""
    reasons = {}
    for field in ("export", "audit"):
        reason = getattr(capabilities, field)
        for name, label in names.items():
            reason = reason if reason is None else reason.replace(name, label)
        reasons[field] = reason
    return replace(capabilities, **reasons)


def _same(old, new) -> None:
    assert old.system is new.system and old.class_names == new.class_names
    same_file = {str(old.path): "MODEL", str(new.path): "MODEL"}
    assert _named(old.capabilities, same_file) == _named(new.capabilities, same_file)
    assert weights_digest(old.model) == weights_digest(new.model)
    frames = _frames(new.image_size)
    a, b = old.predict_clips(frames), new.predict_clips(frames)
    assert a.probs is not None and (a.probs == b.probs).all()


@pytest.fixture(scope="module")
def vemd_files(tmp_path_factory):
    """A tiny VE-MD as vemd 0.1.0 wrote it, and as this version writes it (save_model)."""
    root = tmp_path_factory.mktemp("versions")
    cfg, model = tiny_model("data.frames=1", "model.mode=ve-md")
    old = root / "old.pt"
    torch.save(legacy_v1.vemd_payload(to_dict(cfg), CLASSES, model.inference_state_dict()), old)
    return old, save_model(old, root / "new.pt")


def test_a_vemd_file_of_format_1_loads_as_the_current_format(vemd_files):
    old, new = vemd_files
    data = torch.load(new, weights_only=True)
    assert (data["format"], data["format_version"], data["system"]) == (FORMAT, FORMAT_VERSION, "ve-md")
    assert data["extra"] == {"stage": "2"} and "stage" not in data
    assert read_model_file(old).system == "ve-md"
    _same(load_artifact(old), load_artifact(new))


def test_a_multimodal_file_of_format_1_loads_as_the_current_format(vemd_files, tmp_path):
    from vemd.models.multimodal import MultimodalVEMD

    _, video_file = vemd_files
    video, _, _ = load_model(video_file)
    cfg = tiny_config("data.frames=1", "model.mode=ve-md", *TINY_MM, f"multimodal.video_model={video_file}")
    torch.manual_seed(1)
    model = MultimodalVEMD(cfg, video)
    new = save_multimodal(model, cfg, CLASSES, tmp_path / "new.pt", video_path=video_file)
    inner = legacy_v1.vemd_payload(to_dict(cfg), CLASSES, video.inference_state_dict())
    branches = {"audio": model.audio.state_dict(), "fusion": model.fusion.state_dict()}
    old = tmp_path / "old.pt"
    torch.save(legacy_v1.multimodal_payload(to_dict(cfg), CLASSES, inner, branches, None, {}), old)
    assert read_model_file(old).system == read_model_file(new).system == "multimodal"
    _same(load_artifact(old), load_artifact(new))


def test_a_format_1_multimodal_file_without_a_branch_is_refused_in_one_line(vemd_files, tmp_path):
    _, video_file = vemd_files
    cfg = tiny_config("data.frames=1", "model.mode=ve-md", *TINY_MM)
    video = torch.load(video_file, weights_only=True)
    inner = legacy_v1.vemd_payload(video["config"], CLASSES, video["state_dict"])
    path = tmp_path / "old.pt"
    torch.save(legacy_v1.multimodal_payload(to_dict(cfg), CLASSES, inner, {"fusion": {}}, None, {}), path)
    with pytest.raises(CheckpointError, match=r"old\.pt: damaged multimodal model file \(no audio weights\)"):
        load_artifact(path)


def test_a_file_of_an_unknown_system_is_one_line(vemd_files, tmp_path):
    _, new = vemd_files
    data = torch.load(new, weights_only=True)
    path = tmp_path / "future.pt"
    torch.save({**data, "system": "ve-md-2030"}, path)
    with pytest.raises(CheckpointError, match="system 've-md-2030', which this vemd does not know"):
        load_artifact(path)
