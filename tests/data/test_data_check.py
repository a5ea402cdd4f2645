"""``vemd data check`` on a clean and on a damaged miniature VGAF copy."""

from __future__ import annotations

import json
import os

from layouts import make_dfew, make_vgaf, write_video

from vemd.cli import main
from vemd.data.loaders import dataset_defaults
from vemd.structure.annotations import AnnotationStore, FrameAnnotation

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def snapshot(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def test_clean_copy_passes_with_counts(tmp_path, capsys):
    root = make_vgaf(tmp_path)
    assert main(["data", "check", "vgaf", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"train": {"Positive": 1, "Negative": 1}, "val": {"Neutral": 1}}
    assert (report["frames"], report["sampling"], report["problems"]) == (5, "fps", [])
    assert main(["data", "check", "vgaf", str(root)]) == 0
    assert "status" in capsys.readouterr().out


def test_damaged_copy_names_each_problem_and_fails(tmp_path, capsys):
    root = make_vgaf(tmp_path)
    (root / "Train_labels.txt").write_text("Vid_name Label\n10_1 1\n11_2 3\n12_3 9\n13_4 2\n14_5 1\n")
    (root / "Train" / "11_2.mp4").unlink()
    (root / "Train" / "12_3.mp4").write_bytes(b"")
    (root / "Train" / "13_4.mp4").write_bytes(b"\x00not a video at all" * 50)
    write_video(root / "Train" / "14_5.mp4", 20)  # 2 s: too short for 5 frames 1 s apart
    before = snapshot(root)
    assert main(["data", "check", "vgaf", str(root)]) == 1
    out = capsys.readouterr().out
    lines = {line for line in out.splitlines() if line.startswith("[")}
    assert any(line.startswith("[index] train:") and "11_2.mp4: missing video" in line for line in lines)
    assert any("Train_labels.txt:4: label '9' is not 1, 2 or 3" in line for line in lines)
    assert any(line.startswith("[unreadable] train:") and "13_4.mp4" in line for line in lines)
    assert any(line.startswith("[short] train:") and "14_5.mp4" in line for line in lines)
    assert len(lines) == 4
    assert "FAILED" in out
    assert snapshot(root) == before


def test_annotation_coverage_of_sampled_train_frames(tmp_path, capsys):
    root = make_vgaf(tmp_path)
    with AnnotationStore(root / "annotations", create=True) as store:
        for frame in (0, 10, 20, 30, 40, 50):  # 50 is not a sampled frame
            store.add(f"10_1/{frame}", FrameAnnotation(32, 32))
        store.add("11_2/0", FrameAnnotation(32, 32))
    assert main(["data", "check", "vgaf", str(root), "--json", "--split", "train"]) == 0
    coverage = json.loads(capsys.readouterr().out)["coverage"]
    assert (coverage["frames"], coverage["annotated"]) == (10, 6)
    assert coverage["fraction"] == 0.6


def test_config_mode_selects_dfew_fold_and_reports_missing_frames(tmp_path, capsys):
    root = make_dfew(tmp_path, num_frames=10)
    recipe = tmp_path / "dfew.yaml"
    frames = dataset_defaults("dfew")["frames"]
    recipe.write_text(f"data:\n  name: dfew\n  root: {root}\n  frames: {frames}\n  fold: 2\n")
    assert main(["data", "check", "--config", str(recipe), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"train": {"fear": 1, "angry": 1}, "test": {"happy": 1}}
    assert {p["kind"] for p in report["problems"]} == {"short"}
    assert all("fewer than data.frames=16" in p["message"] for p in report["problems"])
    assert main(["data", "check", "--config", str(recipe), "--set", "data.frames=8"]) == 0
    capsys.readouterr()


def test_usage_errors(tmp_path, capsys):
    assert main(["data", "check", "vgaf"]) == 1
    assert main(["data", "check", "nosuch", str(tmp_path)]) == 1
    assert "unknown dataset" in capsys.readouterr().err


def test_a_copy_without_test_split_is_noted_unless_the_split_is_asked_for(tmp_path, capsys):
    """Test labels are often not distributed: the missing split is a note, not a failure; asked
    for with --split, it is a problem."""
    from layouts import make_synth

    root = make_synth(tmp_path / "copy")
    manifest = root / "manifest.csv"
    manifest.write_text(
        "".join(line for line in manifest.read_text().splitlines(True) if ",test," not in line)
    )
    assert main(["data", "check", "synth", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert not report["problems"] and "no clip in split 'test'" in report["notes"][0]
    assert main(["data", "check", "synth", str(root), "--split", "test", "--json"]) == 1
    assert [p["kind"] for p in json.loads(capsys.readouterr().out)["problems"]] == ["split"]
