"""Miniature copies of the published dataset layouts, written into a temporary folder.

Each ``make_<loader>(root)`` writes a few tiny items per split, as the loader's module
docstring describes its layout, with enough frames for the loader's sampling (paper §4.3);
:data:`LAYOUTS` lists them by loader name.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import av
import cv2
import numpy as np


def write_image(path: Path, value: int = 128, size: int = 16) -> Path:
    """A uniform grey ``size``×``size`` image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size, 3), value, np.uint8))
    return path


def write_video(path: Path, num_frames: int, fps: int = 10, size: int = 32) -> Path:
    """An MPEG-4 clip whose frame k has grey level 4·k (frame numbers stay readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for k in range(num_frames):
            image = np.full((size, size, 3), (4 * k) % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def make_vgaf(root: Path) -> Path:
    """2 train clips (6 s at 10 fps), 1 val clip; labels 1 = Positive, 3 = Negative."""
    (root / "Train_labels.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "Train_labels.txt").write_text("Vid_name Label\n10_1 1\n11_2 3\n")
    (root / "Val_labels.txt").write_text("Vid_name Label\n20_1 2\n")
    write_video(root / "Train" / "10_1.mp4", 60)
    write_video(root / "Train" / "11_2.mp4", 60)
    write_video(root / "Val" / "20_1.mp4", 60)
    return root


def make_dfew(root: Path, num_frames: int = 20) -> Path:
    """Fold 1 trains on clips 1, 2 and tests on 3; fold 2 trains on 2, 3 and tests on 1."""
    folds = {1: ([(1, 1), (2, 7)], [(3, 4)]), 2: ([(2, 7), (3, 4)], [(1, 1)])}
    for fold, (train, test) in folds.items():
        for split, rows in (("train", train), ("test", test)):
            table = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"set_{fold}.csv"
            table.parent.mkdir(parents=True, exist_ok=True)
            table.write_text("video_name,label\n" + "".join(f"{v},{lab}\n" for v, lab in rows))
    for clip in (1, 2, 3):
        for k in range(num_frames):
            write_image(root / "Clip" / "jpg_256" / f"{clip:05d}" / f"{k + 1:05d}.jpg", k)
    return root


MER_EMOTIONS = ["worried", "happy", "neutral", "sad", "angry", "surprise"]


def make_mer2023(root: Path, num_train: int = 12, num_frames: int = 3) -> Path:
    """``train-label.csv`` with clips ``sample_00000`` … (emotion k mod 6, valence k/10 − 1.5),
    ``test1-label.csv`` with two more (one without valence), videos under ``video/``."""
    root.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"sample_{k:05d},{MER_EMOTIONS[k % 6]},{k / 10 - 1.5:g}\n" for k in range(num_train))
    (root / "train-label.csv").write_text("name,discrete,valence\n" + rows)
    test = f"sample_{num_train:05d},happy,0.5\nsample_{num_train + 1:05d},sad,\n"
    (root / "test1-label.csv").write_text("name,discrete,valence\n" + test)
    for k in range(num_train + 2):
        write_video(root / "video" / f"sample_{k:05d}.avi", num_frames)
    return root


def write_frames(folder: Path, num_frames: int, size: int = 16) -> Path:
    """A folder of frame images ``00001.jpg``, ``00002.jpg``, ... (frame k has grey level k)."""
    for k in range(num_frames):
        write_image(folder / f"{k + 1:05d}.jpg", k, size)
    return folder


def make_folder(root: Path) -> Path:
    """``ROOT/<split>/<class>/<item>``: an image, a video and a frame folder in train."""
    write_image(root / "train" / "happy" / "a.jpg", 60, 64)
    write_image(root / "train" / "happy" / "f.png", 90, 64)
    write_video(root / "train" / "sad" / "b.mp4", 8)
    write_frames(root / "train" / "sad" / "c", 7)
    for split in ("val", "test"):
        write_image(root / split / "happy" / "d.jpg", 70)
        write_image(root / split / "sad" / "e.jpg", 80)
    return root


def make_csv(root: Path) -> Path:
    """``ROOT/<split>.csv`` (``path,label``) over images and a video under ``media/``."""
    write_image(root / "media" / "a.jpg", 60, 64)
    write_video(root / "media" / "clips" / "b.mp4", 8)
    write_image(root / "media" / "c.png", 90)
    (root / "train.csv").write_text("path,label\nmedia/a.jpg,pos\nmedia/clips/b.mp4,neg\n")
    (root / "val.csv").write_text("path,label\nmedia/c.png,neg\n")
    (root / "test.csv").write_text("path,label\nmedia/a.jpg,pos\n")
    return root


def make_synth(root: Path) -> Path:
    """The generic layout (``manifest.csv`` + ``classes.json``): image, frame folder, video."""
    from vemd.data.manifest import ClipRecord, write_manifest

    write_image(root / "items" / "s0.png", 60, 64)
    write_frames(root / "items" / "s1", 6)
    write_video(root / "items" / "s2.mp4", 8)
    records = [
        ClipRecord("s0", "train", "neg", "items/s0.png"),
        ClipRecord("s1", "train", "pos", "items/s1"),
        ClipRecord("s2", "train", "pos", "items/s2.mp4"),
        ClipRecord("v0", "val", "neg", "items/s0.png"),
        ClipRecord("t0", "test", "pos", "items/s0.png"),
    ]
    write_manifest(root, records, ["neg", "pos"])
    return root


def make_gaf3(root: Path) -> Path:
    """``ROOT/{train,val}/{Positive,Neutral,Negative}/*.jpg``, train nested one level."""
    for k, name in enumerate(("Positive", "Neutral", "Negative")):
        write_image(root / "train" / name / f"{k + 1:06d}.jpg", 40 + k, 64)
        write_image(root / "train" / name / "more" / f"{k + 11:06d}.jpg", 50 + k)
        write_image(root / "val" / name / f"{k + 21:06d}.jpg", 60 + k)
    return root


def make_samsemo(root: Path) -> Path:
    """``samsemo.tsv``, ``splits/<split>_split_<LANG>.txt`` and per-language videos."""
    meta = [
        ("en_1", "EN", "happiness", "good"),
        ("en_2", "EN", "anger, disgust", "stop"),
        ("pl_1", "PL", "sadness", "sad"),
        ("en_3", "EN", "neutral", "ok"),
        ("en_4", "EN", "surprise", "oh"),
    ]
    lines = ["utterance_id\tlanguage\taggregated_emotions\ttranscript"] + ["\t".join(m) for m in meta]
    root.mkdir(parents=True, exist_ok=True)
    (root / "samsemo.tsv").write_text("\n".join(lines) + "\n")
    (root / "splits").mkdir()
    (root / "splits" / "train_split_EN.txt").write_text("en_1\nen_2\n")
    (root / "splits" / "train_split_PL.txt").write_text("pl_1\n")
    (root / "splits" / "valid_split_EN.txt").write_text("en_3\n")
    (root / "splits" / "test_split_EN.txt").write_text("en_4\n")
    for utterance, language, *_ in meta:
        write_video(root / language / f"{utterance}.mp4", 12)
    return root


def make_engagenet(root: Path) -> Path:
    """``{train,validation,test}*.csv`` label tables (``chunk,label``) and the clips."""
    tables = {
        "train_labels.csv": [("c1.mp4", "Engaged"), ("c2", "Barely-Engaged"), ("c3", "highly engaged")],
        "validation_labels.csv": [("c4", "Not-Engaged")],
        "test_labels.csv": [("c5", "Engaged")],
    }
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        (root / "labels" / table).write_text("chunk,label\n" + "".join(f"{c},{lab}\n" for c, lab in rows))
        for clip, _ in rows:
            write_video(root / "clips" / f"{Path(clip).stem}.mp4", 12)
    return root


LAYOUTS = {
    "folder": make_folder,
    "csv": make_csv,
    "synth": make_synth,
    "gaf3": make_gaf3,
    "vgaf": make_vgaf,
    "dfew": make_dfew,
    "mer2023": partial(make_mer2023, num_train=4, num_frames=12),
    "samsemo": make_samsemo,
    "engagenet": make_engagenet,
}
