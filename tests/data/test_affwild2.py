"""AffWild2 (ABAW VA track) on a miniature copy: windows, targets, splits and errors.

The videos are 10 fps, so with T = 4 frames 0.2 s apart a window is 8 source frames.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from layouts import write_video

from vemd.config import DataConfig
from vemd.data.check import check_dataset
from vemd.data.dataset import ClipDataset
from vemd.data.loaders import dataset_defaults, load_index
from vemd.data.media import read_video_frames
from vemd.errors import DataError, MissingSplit

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TRACK = Path("annotations") / "VA_Estimation_Challenge"
# vidA: frames 2, 3 and 8-15, 18 are not annotated; frame 7 has no arousal.
VID_A = [
    *("0.1,-0.05", "0.2,-0.1", "-5,-5", "-5,-5", "0.3,-0.15", "0.4,-0.2", "0.5,-0.25", "0.6,-5"),
    *["-5,-5"] * 8,
    *("-0.5,0.2", "-0.3,0.4", "-5,-5", "-0.1,0.6"),
]
VID_B_LEFT = ["0.05,0.3"] * 8 + ["-0.2,0.1"] * 8
VID_B_RIGHT = ["0.9,-0.4"] * 8 + ["0.2,0.5"] * 4  # 4 lines short of the video's 16 frames


def write_va(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("valence,arousal\n" + "".join(f"{line}\n" for line in lines))
    return path


def make_affwild2(root: Path) -> Path:
    """Train: ``vidA`` (20 frames, batch1) and the two people of ``vidB`` (16 frames, batch2);
    val: ``vidC.avi`` (10 frames, its file one line long) and ``vidC_right.mp4`` (8 frames,
    a video of its own), both directly under ``videos/``."""
    write_video(root / "videos" / "batch1" / "vidA.mp4", 20)
    write_video(root / "videos" / "batch2" / "vidB.mp4", 16)
    write_video(root / "videos" / "vidC.avi", 10)
    write_video(root / "videos" / "vidC_right.mp4", 8)
    write_va(root / TRACK / "Train_Set" / "vidA.txt", VID_A)
    write_va(root / TRACK / "Train_Set" / "vidB_left.txt", VID_B_LEFT)
    write_va(root / TRACK / "Train_Set" / "vidB_right.txt", VID_B_RIGHT)
    write_va(root / TRACK / "Validation_Set" / "vidC.txt", ["0.0,0.0"] * 11)
    write_va(root / TRACK / "Validation_Set" / "vidC_right.txt", ["-0.4,-0.6"] * 8)
    return root


def cfg_for(root: Path, **changes) -> DataConfig:
    base = DataConfig(name="affwild2", root=str(root), frames=4, sampling="fps", frame_interval=0.2)
    return dataclasses.replace(base, **changes)


def windows(index) -> dict[str, tuple]:
    return {
        r.clip_id: (r.start_frame, r.end_frame, r.label, round(r.valence, 6), round(r.arousal, 6))
        for r in index.records
    }


def test_videos_are_cut_into_windows_with_mean_targets_and_a_valence_class(tmp_path, caplog):
    root = make_affwild2(tmp_path)
    with caplog.at_level(logging.INFO, logger="vemd.data.loaders.affwild2"):
        train = load_index(cfg_for(root), "train")
    assert train.class_names == ["negative", "neutral", "positive"]
    assert windows(train) == {
        "vidA@0": (0, 8, "positive", 0.3, -0.15),  # frames 0, 1, 4, 5, 6 (7 lacks arousal)
        "vidA@16": (16, 20, "negative", -0.3, 0.4),  # frames 8-15 are all -5: no window
        "vidB_left@0": (0, 8, "neutral", 0.05, 0.3),
        "vidB_left@8": (8, 16, "negative", -0.2, 0.1),
        "vidB_right@0": (0, 8, "positive", 0.9, -0.4),
        "vidB_right@8": (8, 16, "positive", 0.2, 0.5),  # frames 8-11: the file ends there
    }
    assert any("1 window(s) without a valid frame" in r.getMessage() for r in caplog.records)
    paths = {r.clip_id.partition("@")[0]: (r.path, r.va_file) for r in train.records}
    assert paths["vidA"] == ("videos/batch1/vidA.mp4", f"{TRACK.as_posix()}/Train_Set/vidA.txt")
    assert paths["vidB_left"][0] == paths["vidB_right"][0] == "videos/batch2/vidB.mp4"
    assert paths["vidB_right"][1] == f"{TRACK.as_posix()}/Train_Set/vidB_right.txt"
    assert {r.split for r in train.records} == {"train"}

    uniform = load_index(cfg_for(root, frames=5, sampling="uniform"), "train")  # 5 × 0.2 s = 10 frames
    assert {k: v[:2] for k, v in windows(uniform).items() if k.startswith("vidA")} == {
        "vidA@0": (0, 10),
        "vidA@10": (10, 20),
    }
    assert windows(uniform)["vidA@10"][3:] == (-0.3, 0.4)


def test_the_dataset_returns_the_file_values_at_the_frames_it_samples_in_the_window(tmp_path):
    root = make_affwild2(tmp_path)
    index = load_index(cfg_for(root), "train")
    dataset = ClipDataset(
        index.records, root, index.class_names, frames=4, sampling="fps", interval=0.2, image_size=32
    )
    by_id = {r.clip_id: i for i, r in enumerate(index.records)}
    nan = math.nan
    expected = {
        "vidA@0": [[0.1, -0.05], [nan, nan], [0.3, -0.15], [0.5, -0.25]],  # frames 0, 2, 4, 6
        "vidA@16": [[-0.5, 0.2], [-0.3, 0.4], [nan, nan], [-0.1, 0.6]],  # short window: 16-19
        "vidB_right@8": [[0.2, 0.5], [0.2, 0.5], [nan, nan], [nan, nan]],  # 8, 10; 12, 14 past the file
    }
    for clip_id, values in expected.items():
        sample = dataset[by_id[clip_id]]
        np.testing.assert_allclose(sample["va"].numpy(), np.array(values, np.float32), atol=1e-6)
        record = index.records[by_id[clip_id]]
        assert sample["valence"] == pytest.approx(record.valence)
        assert sample["arousal"] == pytest.approx(record.arousal)
    # the frames read are the window's: frame k of a test video is a uniform grey (about 4k)
    record = index.records[by_id["vidA@16"]]
    decoded = [image.mean() for image in read_video_frames(root / record.path, [16, 17, 18, 19])]
    grey = dataset[by_id["vidA@16"]]["frames"].float().mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(grey, decoded, atol=0.5)
    assert np.all(np.diff(decoded) > 2)  # neighbouring frames tell apart


def test_splits_test_reads_validation_and_default_sampling(tmp_path):
    root = make_affwild2(tmp_path)
    val = load_index(cfg_for(root), "val")
    assert windows(val) == {
        "vidC@0": (0, 8, "neutral", 0.0, 0.0),
        "vidC@8": (8, 10, "neutral", 0.0, 0.0),  # the video's 10 frames, not the file's 11
        "vidC_right@0": (0, 8, "negative", -0.4, -0.6),
    }
    assert [r.path for r in val.records] == ["videos/vidC.avi"] * 2 + ["videos/vidC_right.mp4"]
    test = load_index(cfg_for(root), "test")
    assert windows(test) == windows(val) and {r.split for r in test.records} == {"test"}
    with pytest.raises(DataError, match="no split 'foo'"):
        load_index(cfg_for(root), "foo")

    assert dataset_defaults("affwild2") == {"frames": 16, "sampling": "fps", "interval": 0.2}
    d = dataset_defaults("affwild2")
    plain = load_index(cfg_for(root, frames=d["frames"], frame_interval=d["interval"]), "train")
    assert {k: v[:2] for k, v in windows(plain).items()} == {  # 16 × 0.2 s = 32 frames: whole videos
        "vidA@0": (0, 20),
        "vidB_left@0": (0, 16),
        "vidB_right@0": (0, 16),
    }
    report = check_dataset(cfg_for(root))
    # ROOT/annotations is AffWild2's label folder, not a structure store (see the loader's docstring)
    assert [p for p in report.problems if p.kind != "annotations"] == []
    assert report.counts == {
        "train": {"positive": 3, "negative": 2, "neutral": 1},
        "val": {"neutral": 2, "negative": 1},
    }


def test_a_bad_line_is_one_error_naming_the_file_and_line_or_one_problem(tmp_path):
    root = make_affwild2(tmp_path)
    bad = write_va(root / TRACK / "Train_Set" / "vidA.txt", ["0.1,0.2", "0.3,0.1", "0.1;0.2"])
    with pytest.raises(DataError) as err:
        load_index(cfg_for(root), "train")
    assert str(err.value) == f"{bad}:4: expected two numbers 'valence,arousal', got '0.1;0.2'"
    found: list[tuple[str, str]] = []
    index = load_index(cfg_for(root), "train", problems=found)
    assert found == [(f"{bad}:4", "expected two numbers 'valence,arousal', got '0.1;0.2'")]
    assert sorted({r.clip_id.partition("@")[0] for r in index.records}) == ["vidB_left", "vidB_right"]


def test_a_missing_video_names_its_annotation_file(tmp_path):
    root = make_affwild2(tmp_path)
    orphan = write_va(root / TRACK / "Train_Set" / "vidZ_left.txt", ["0.1,0.1"] * 8)
    with pytest.raises(DataError, match=r"vidZ_left\.txt: no video vidZ_left\.mp4") as err:
        load_index(cfg_for(root), "train")
    assert str(err.value).startswith(f"{orphan}: ") and "\n" not in str(err.value)
    found: list[tuple[str, str]] = []
    index = load_index(cfg_for(root), "train", problems=found)
    assert [p for p, _ in found] == [str(orphan)] and len(index.records) == 6


def test_missing_annotation_or_video_folders_are_one_line_errors(tmp_path):
    root = make_affwild2(tmp_path)
    shutil.rmtree(root / TRACK / "Validation_Set")
    for split in ("val", "test"):
        with pytest.raises(MissingSplit) as err:
            load_index(cfg_for(root), split)
        assert str(err.value) == f"{root / TRACK / 'Validation_Set'}: missing AffWild2 annotation folder"
    report = check_dataset(cfg_for(root))
    assert [(p.kind, p.split) for p in report.problems if p.kind != "annotations"] == [("split", "val")]
    shutil.rmtree(root / "videos")
    with pytest.raises(DataError, match=r"videos: missing AffWild2 videos folder$"):
        load_index(cfg_for(root), "train")
