"""The MER-MULTI protocol end to end: `vemd test` on the recipe's test split (test1)."""

from __future__ import annotations

import json
import os

import torch
from layouts import make_mer2023

from vemd.cli import main
from vemd.config import load_config, to_dict
from vemd.data.loaders.mer2023 import CLASS_NAMES
from vemd.models import build_model
from vemd.train.checkpoint import MODEL_FORMAT

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The tiny recipe on a MER2023 copy: 6 classes, 2 frames, no structural decoder to feed.
MER_TINY = (
    "model.mode=ve-sd",
    "model.num_classes=6",
    "model.cnn.custom_channels=[8,16,24,32]",
    "data.name=mer2023",
    "data.frames=2",
    "data.test_split=test1",
    "train.batch_size=4",
)


def _model_file(tmp_path, root, *overrides: str):
    """An untrained tiny model saved as ``vemd fit`` exports it."""
    torch.manual_seed(0)
    cfg = load_config("tiny", [*MER_TINY, f"data.root={root}", *overrides])
    payload = {
        "format": MODEL_FORMAT,
        "format_version": 1,
        "vemd_version": "0",
        "config": to_dict(cfg),
        "class_names": list(CLASS_NAMES),
        "stage": "2",
        "state_dict": build_model(cfg.model, inference=True).inference_state_dict(),
    }
    path = tmp_path / "run" / "model.pt"
    path.parent.mkdir(parents=True)
    torch.save(payload, path)
    return path


def _printed(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def test_vemd_test_defaults_to_the_recipes_test_split(tmp_path, capsys):
    root = make_mer2023(tmp_path / "mer", num_train=9)  # val = {sample_00008}
    model = _model_file(tmp_path, root)
    # no --split, no --config: the test split saved with the model
    assert main(["test", "--ckpt", str(model)]) == 0
    assert json.loads((model.parent / "test-test1" / "metrics.json").read_text())["split"] == "test1"
    printed = _printed(capsys)
    assert printed["split"] == "test1" and printed["num_items"] == 2
    assert printed["report"] == str(model.parent / "test-test1")
    # --config: its data.test_split
    recipe = ["--config", "tiny", *(f"--set={o}" for o in MER_TINY), f"--set=data.root={root}"]
    assert main(["test", "--ckpt", str(model), *recipe, "--set=data.test_split=val"]) == 0
    printed = _printed(capsys)
    assert (printed["split"], printed["num_items"]) == ("val", 1)
    assert printed["report"] == str(model.parent / "test-val")
    # --split wins over both
    out = tmp_path / "report"
    assert main(["test", "--ckpt", str(model), *recipe, "--split", "train", "--out", str(out)]) == 0
    printed = _printed(capsys)
    assert (printed["split"], printed["num_items"], printed["report"]) == ("train", 9, str(out))
