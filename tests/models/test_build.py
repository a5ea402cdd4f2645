"""Backbone creation: local weights file, hub fallback without network, custom encoder."""

from __future__ import annotations

import warnings

import pytest
import torch
from tests.faults.cases import payload

from vemd.config import ConfigError
from vemd.models import build
from vemd.models.custom_encoder import CustomEncoder

from .helpers import write_model_file

VIT_KWARGS = {"img_size": 32, "depth": 1, "embed_dim": 24, "num_heads": 2}


def test_local_weights_file_is_loaded(tmp_path):
    source = build.create_timm("vit_tiny_patch16_224", pretrained=False, weights=None, kwargs=VIT_KWARGS)
    path = tmp_path / "vit.pth"
    torch.save(source.state_dict(), path)
    loaded = build.create_timm("vit_tiny_patch16_224", pretrained=False, weights=str(path), kwargs=VIT_KWARGS)
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("content", ["payload", "garbage", "other-model"])
def test_a_weights_file_that_is_not_the_backbones_is_one_line(tmp_path, content):
    """A crafted pickle never runs; damaged bytes or another model's weights name the file."""
    path, marker = tmp_path / "vit.pth", tmp_path / "pwned"
    if content == "payload":
        torch.save({"pos_embed": payload(marker)}, path)
    elif content == "garbage":
        path.write_bytes(b"\x80\x04not a checkpoint")
    else:
        torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(ConfigError) as info:
        build.create_timm("vit_tiny_patch16_224", pretrained=False, weights=str(path), kwargs=VIT_KWARGS)
    message = str(info.value)
    assert message.startswith(f"{path}: not usable weights") and "\n" not in message
    assert not marker.exists()


def test_missing_weights_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="weights file not found"):
        build.create_timm(
            "vit_tiny_patch16_224", pretrained=False, weights=str(tmp_path / "no.pth"), kwargs={}
        )


def _offline_timm(monkeypatch) -> list[str]:
    """timm whose hub is unreachable; returns the list of names asked for pretrained weights."""
    import timm

    real, asked = timm.create_model, []

    def offline(name, pretrained=False, **kwargs):
        if pretrained and "file" not in kwargs.get("pretrained_cfg_overlay", {}):
            asked.append(name)
            raise OSError("offline")
        return real(name, pretrained=pretrained, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline)
    return asked


def test_unreachable_hub_stops_with_one_line_naming_weights_and_remedies(monkeypatch):
    _offline_timm(monkeypatch)
    with pytest.raises(ConfigError) as err:
        build.create_timm(
            "vit_tiny_patch16_224", pretrained=True, weights=None, kwargs=VIT_KWARGS, key="model.vit"
        )
    message = str(err.value)
    assert "\n" not in message and "vit_tiny_patch16_224" in message
    assert (
        "hub cache" in message and "model.vit.weights" in message and "model.vit.pretrained=false" in message
    )


def test_a_model_file_loads_offline_without_its_pretrained_weights(tmp_path, monkeypatch):
    """A model.pt whose config names a missing weights file and a hub model loads with no hub
    lookup, no file read and no warning: every weight is in the model file."""
    from vemd.config import load_config, to_dict
    from vemd.models import build_model
    from vemd.models.checkpoint import load_model

    cfg = load_config("tiny", ["model.cnn.name=resnet18", "model.cnn.kwargs={}"])
    model = build_model(cfg.model)
    config = to_dict(cfg)
    config["model"]["vit"]["weights"] = str(tmp_path / "gone" / "vit_finetuned.pth")
    config["model"]["cnn"]["pretrained"] = True
    write_model_file(tmp_path / "model.pt", config, model.inference_state_dict())
    asked = _offline_timm(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded, _, _ = load_model(tmp_path / "model.pt")
    assert asked == []
    for name, value in model.inference_state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_custom_encoder_halves_resolution_per_block():
    encoder = CustomEncoder([8, 16, 32])
    assert encoder(torch.randn(2, 3, 56, 56)).shape == (2, 32, 7, 7)
    assert encoder.num_features == 32


def test_heatmap_size_must_match_the_latent_grid():
    from vemd.config import load_config

    cfg = load_config("tiny", ["model.heatmap.size=64"])
    with pytest.raises(ConfigError, match="8 × model.latent_size"):
        build.build_struct_decoder(cfg.model, "body")


def test_personquery_decoder_plugs_in():
    pytest.importorskip("vemd.models.personquery.decoder")
    from .helpers import frames, tiny_model

    cfg, model = tiny_model(
        "model.decoder=personquery", "model.sr.modalities=[body,face]", "model.sr.projection=null"
    )
    out = model.train()(frames(cfg))
    q = cfg.model.personquery.num_queries
    assert out.pred_body["pred_limbs"].shape == (4, q.body, 4 * 18)
    assert model.emotion_decoder.frame_dim == 2 * cfg.model.latent_dim + 4 * q.body * 18 + 4 * q.face * 20


def test_plain_encoder_max_pools_between_blocks():
    from vemd.config import load_config
    from vemd.models.custom_encoder import PlainEncoder

    encoder = PlainEncoder([8, 16, 32, 32])
    assert encoder(torch.randn(2, 3, 56, 56)).shape == (2, 32, 7, 7)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in encoder.modules()) == 3
    cfg = load_config("tiny", ["model.cnn.name=plain", "model.cnn.plain_channels=[8,16]"])
    branch = build.build_cnn_branch(cfg.model)
    assert isinstance(branch.backbone, PlainEncoder) and branch.proj.in_channels == 16


def test_a_model_file_saved_before_the_sr_gate_loads_ungated(tmp_path):
    from vemd.config import load_config, to_dict
    from vemd.models import build_model
    from vemd.models.checkpoint import load_model

    cfg = load_config("tiny", ["model.mode=ve-md-sr", "model.sr.gate=false"])
    model = build_model(cfg.model)
    config = to_dict(cfg)
    del config["model"]["sr"]["gate"]  # written by a vemd without the key
    write_model_file(tmp_path / "model.pt", config, model.inference_state_dict())
    loaded, loaded_cfg, _ = load_model(tmp_path / "model.pt")
    assert loaded_cfg.model.sr.gate is False and len(loaded.emotion_decoder.sr_gate) == 0


@pytest.mark.parametrize("mode", ["ve-md", "ve-md-sr"])
def test_a_model_file_saved_with_deep_supervision_loads_or_says_why_not(tmp_path, mode):
    from vemd.config import load_config, to_dict
    from vemd.models import build_model
    from vemd.models.checkpoint import CheckpointError, load_model

    cfg = load_config("tiny", [f"model.mode={mode}"])
    config = to_dict(cfg)
    del config["model"]["heatmap"]["supervision"]
    config["model"]["heatmap"]["deep_supervision"] = False  # written before model.heatmap.supervision
    write_model_file(tmp_path / "model.pt", config, build_model(cfg.model).inference_state_dict())
    if mode == "ve-md":  # no structural decoder at inference: the file loads
        _, loaded_cfg, _ = load_model(tmp_path / "model.pt")
        assert loaded_cfg.model.heatmap.supervision == "last"
    else:
        with pytest.raises(CheckpointError, match="limbs decoder had another layout"):
            load_model(tmp_path / "model.pt")
