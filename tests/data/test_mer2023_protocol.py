"""The MER-MULTI protocol end to end: `vemd test` on the recipe's test split (test1), valence
head trained by `vemd fit`, MER2023's F1 − 0.25·MSE reported."""

from __future__ import annotations

import csv
import json
import os

import pytest
import torch
from layouts import make_mer2023

from vemd.cli import main
from vemd.config import load_config, to_dict
from vemd.data.loaders.mer2023 import CLASS_NAMES
from vemd.inference.predictor import PUBLIC_KEYS, VALENCE_KEY, WINDOW_KEYS
from vemd.model_file import FORMAT as MODEL_FORMAT
from vemd.models import build_model

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


def test_fit_with_a_valence_head_then_test_reports_the_mer2023_score(tmp_path, capsys):
    root = make_mer2023(tmp_path / "mer", num_train=9)
    out = tmp_path / "run"
    recipe = [
        *(f"--set={o}" for o in MER_TINY),
        f"--set=data.root={root}",
        f"--set=train.out_dir={out}",
        # the paper recipe's splits: all of train-label.csv, selected and reported on test1
        "--set=data.train_split=train",
        "--set=data.val_split=test1",
        "--set=model.valence_head=true",
        "--set=train.max_epochs=2",
        "--set=train.lr=0.001",
        "--set=train.log_every_n_steps=1",
    ]
    assert main(["fit", "--config", "tiny", *recipe]) == 0
    header = (out / "stage2" / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "train/loss_valence" in header and "val/loss_valence" in header
    capsys.readouterr()
    assert main(["test", "--ckpt", str(out / "model.pt")]) == 0
    printed = _printed(capsys)
    metrics = json.loads((out / "test-test1" / "metrics.json").read_text())
    assert metrics["split"] == printed["split"] == "test1"
    assert metrics["num_items"] == 2 and metrics["num_valence_items"] == 1  # sample_00010 has no valence
    rows = list(csv.DictReader((out / "test-test1" / "predictions.csv").open()))
    predicted = {r["item_id"]: (float(r["pred_valence"]), r["true_valence"]) for r in rows}
    assert predicted["sample_00010"][1] == "" and float(predicted["sample_00009"][1]) == 0.5
    mse = (predicted["sample_00009"][0] - 0.5) ** 2
    assert metrics["valence_mse"] == pytest.approx(mse)
    assert metrics["mer_score"] == pytest.approx(metrics["f1_weighted"] - 0.25 * mse)
    for key in ("valence_mse", "valence_ccc", "mer_score"):
        assert printed[key] == pytest.approx(metrics[key])
    # vemd predict: the valence is group level, like the class probabilities
    video = root / "video" / "sample_00009.avi"
    assert (
        main(["predict", str(video), "--ckpt", str(out / "model.pt"), "--json", "--out", str(tmp_path)]) == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(result) == PUBLIC_KEYS | {VALENCE_KEY, "type"} and result["type"] == "result"
    assert all(set(w) == WINDOW_KEYS | {VALENCE_KEY} for w in result["windows"])
    assert isinstance(result["valence"], float)
    assert (tmp_path / "timeline.csv").read_text().splitlines()[0].endswith(",valence")
