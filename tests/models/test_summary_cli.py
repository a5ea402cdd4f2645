"""``vemd summary`` through the real CLI."""

from __future__ import annotations

import json

import torch

from vemd.cli import main
from vemd.config import load_config
from vemd.models import build_model


def test_summary_json_matches_a_real_build(capsys):
    assert main(["summary", "--config", "tiny", "--json", "--set", "model.sr.modalities=[body,face]"]) == 0
    report = json.loads(capsys.readouterr().out)
    cfg = load_config("tiny", ["model.sr.modalities=[body,face]"])
    model = build_model(cfg.model)
    assert report["params_total"] == sum(p.numel() for p in model.parameters())
    assert report["params_trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert report["latent_shape"] == [2 * cfg.model.latent_dim, 7, 7]
    assert report["frame_embedding_dim"] == model.emotion_decoder.frame_dim == 64 + 2 * 64
    assert report["sr_shapes"]["face"]["prediction"] == {"pred_heatmaps": [83, 56, 56]}
    assert report["sr_shapes"]["body"]["sr_raw"] == 3136 and report["sr_shapes"]["body"]["sr_input"] == 64
    assert report["gflops_per_frame"] > report["modules"]["encoder.cnn_branch"]["gflops_per_frame"] > 0


def test_summary_of_ve_md_counts_decoders_only_in_the_training_forward(capsys):
    assert main(["summary", "--config", "tiny", "--json", "--set", "model.mode=ve-md"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gflops_per_frame_training_forward"] > 1.5 * report["gflops_per_frame"]
    assert report["frame_embedding_dim"] == 64


def test_summary_text_view_runs(capsys):
    assert main(["summary", "--config", "tiny"]) == 0
    assert "frame embedding" in capsys.readouterr().out
    assert torch.get_default_device().type == "cpu"
