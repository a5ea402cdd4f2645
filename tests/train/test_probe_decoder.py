"""benchmarks/probe_decoder.py: it reads a model file's decoder, counts the head's live units and
fits the frozen-feature probes; a head whose units are all dead reads as dead."""

from __future__ import annotations

import json

import torch
from benchmarks.probe_decoder import main
from tests.models.helpers import tiny_model, write_model_file

from vemd.config import to_dict


def _report(capsys, path, root) -> dict:
    assert main([str(path), "--data", str(root), "--n-train", "16", "--n-val", "8", "--batch", "8"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_dead_head_reads_as_dead_beside_the_probes_of_its_features(synth_root, tmp_path, capsys):
    cfg, model = tiny_model("data.name=synth", f"data.root={synth_root}", "data.frames=2")
    alive = tmp_path / "alive.pt"
    write_model_file(alive, to_dict(cfg), model.inference_state_dict())
    report = _report(capsys, alive, synth_root)
    assert report["head units alive"] > 0 and report["decoder logit spread over clips"] > 0
    assert report["chance"] == 1 / 3 and report["clips"] == {"train": 16, "val": 8}
    assert all(0 <= acc <= 1 for acc in report["probe val accuracy"].values())

    with torch.no_grad():  # every hidden unit below zero for every input: the head outputs its last bias
        model.emotion_decoder.head[1].bias.fill_(-1e4)
    dead = tmp_path / "dead.pt"
    write_model_file(dead, to_dict(cfg), model.inference_state_dict())
    report = _report(capsys, dead, synth_root)
    assert report["head units alive"] == 0 and report["decoder logit spread over clips"] < 1e-6
