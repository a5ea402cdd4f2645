"""Miniature copies of the published dataset layouts, written into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np


def write_image(path: Path, value: int = 128, size: int = 16) -> Path:
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
