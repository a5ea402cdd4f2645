"""`vemd quickstart` end to end through the CLI, at a tiny budget: every step runs and reports."""

import json
import re

import pytest

from vemd.cli import main
from vemd.inference.predictor import PUBLIC_KEYS

TINY_QUICKSTART = [
    "model.cnn.plain_channels=[8,16,16,16,16,16]",
    "model.heatmap.up_channels=[16,8,8,8]",
    "model.heatmap.stage_channels=8",
    "train.batch_size=8",
    "train.max_epochs=1",
    "train.num_workers=0",
    "train.precision=32",
]


@pytest.mark.slow
def test_quickstart_runs_every_step_and_writes_its_report(tmp_path, capsys):
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--n-train", "24", "--n-val", "9", "--audit-identities", "3"]
    for item in TINY_QUICKSTART:
        args += ["--set", item]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_val_items"] == 9 and 0.0 <= summary["accuracy"] <= 1.0
    for split in ("", "test_"):
        lo, hi = summary[f"{split}accuracy_ci95"]
        assert lo <= summary[f"{split}accuracy"] <= hi
    assert summary["num_test_items"] == 9  # a held-out split beside the selection one
    assert json.loads((out / "test" / "metrics.json").read_text())["split"] == "test"
    assert len(summary["demo_video"]["windows"]) == 3 == len(summary["demo_video"]["truth"])
    report = (out / "report.md").read_text()
    assert "ve-md-sr" in report and "SR fed to the emotion decoder" in report
    # the quickstart model keeps its structural decoders, so the report shows their heatmaps, one
    # figure per SR modality (body, then face)
    for figure in (
        "eval/confusion.png",
        "eval/sr_heatmaps.png",
        "eval/sr_heatmaps_face.png",
        "training_curves.png",
    ):
        assert f"({figure})" in report and (out / figure).stat().st_size > 0
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):  # every figure the report shows exists
        assert (out / link).is_file(), link
    predictions = json.loads((out / "predict" / "predictions.json").read_text())
    records = predictions if isinstance(predictions, list) else [predictions]
    assert all(set(r) == PUBLIC_KEYS for r in records)  # group level only
    assert not list(out.rglob("predict/*.jpg"))  # predict writes no frame
    # step 5: the privacy audit of the trained model, in the report and the model card
    privacy = summary["privacy"]
    assert privacy["num_identities"] == 3 and privacy["num_items"] == 24 and privacy["chance"] == 1 / 3
    assert {"probs", "clip_embedding", "latent", "sr_body"} <= set(privacy["reid_accuracy"])
    assert "## Privacy audit" in report and "`clip_embedding`" in report
    assert json.loads((out / "audit" / "audit.json").read_text())["presence"]["num_scenes"] == 36
    assert "## Measured identity leakage" in (out / "run" / "MODEL_CARD.md").read_text()
    audited = (out / "audit" / "audit.json").stat().st_mtime_ns
    # run again (as `make demo` twice): everything resumes, nothing is retrained or lost
    curves = (out / "run" / "stage2" / "logs" / "metrics.csv").read_text()
    assert main(args) == 0
    assert (out / "audit" / "audit.json").stat().st_mtime_ns == audited  # the finished audit is reused
    assert "## Measured identity leakage" in (out / "run" / "MODEL_CARD.md").read_text()  # and kept
    again = json.loads((out / "summary.json").read_text())
    assert again["accuracy"] == summary["accuracy"] and again["test_accuracy"] == summary["test_accuracy"]
    assert (out / "run" / "stage2" / "logs" / "metrics.csv").read_text() == curves


@pytest.mark.slow
def test_multimodal_quickstart_reports_video_audio_and_fused(tmp_path):
    out = tmp_path / "mm"
    args = [
        "quickstart",
        "--multimodal",
        "--out",
        str(out),
        "--n-train",
        "24",
        "--n-val",
        "9",
        "--n-video",
        "24",
    ]
    tiny_audio = [
        "multimodal.audio.mel_cnn.channels=[4,8,8,8]",
        "multimodal.audio.mel_cnn.dim=16",
        "multimodal.audio.mel_cnn.feedforward_dim=32",
        "multimodal.fusion.dim=16",
        "multimodal.branch_epochs=1",
        "multimodal.fusion_epochs=1",
    ]
    for item in [*TINY_QUICKSTART, *tiny_audio]:
        args += ["--set", item]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    for split in ("val", "test"):
        assert set(summary[split]) == {"video", "audio", "fused"}
        assert all(m["num_items"] == 9 for m in summary[split].values())
    report = (out / "report.md").read_text()
    assert "| test | fused |" in report and "mel_cnn" in report
    assert (out / "test" / "modalities.md").is_file()
    assert (out / "run" / "video" / "model.pt").is_file()  # the frozen VE-MD it trained first
