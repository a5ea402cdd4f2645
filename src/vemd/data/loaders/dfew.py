"""DFEW (Dynamic Facial Expression in the Wild): 7 classes, 16 frames, 5 folds.

Layout (as distributed)::

    ROOT/EmoLabel_DataSplit/train(single-labeled)/set_{1..5}.csv   video_name,label
    ROOT/EmoLabel_DataSplit/test(single-labeled)/set_{1..5}.csv
    ROOT/Clip/jpg_256/<%05d video_name>/*.jpg                      the clip's frames

Labels 1–7 are happy, sad, neutral, angry, surprise, disgust, fear. ``data.fold``
selects the fold; DFEW has no validation split, so recipes monitor the fold's test
list (``data.val_split: test``). Results are reported as the mean over the 5 folds
(:func:`average_folds`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vemd.config import DataConfig
from vemd.data.loaders import register
from vemd.data.loaders.common import Problems, child_dir, column, problem, read_rows, relative, split_alias
from vemd.data.manifest import ClipRecord
from vemd.errors import DataError

CLASS_NAMES = ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]
FOLDS = (1, 2, 3, 4, 5)
SPLITS = {"train": ("train(single-labeled)",), "test": ("test(single-labeled)",)}


def split_table(root: Path, split: str, fold: int) -> Path:
    """The label list of ``split`` in ``fold``."""
    if fold not in FOLDS:
        raise DataError(f"data.fold={fold}: DFEW folds are {list(FOLDS)}")
    labels_dir = child_dir(root, ("EmoLabel_DataSplit",))
    split_dir = child_dir(labels_dir, split_alias(split, SPLITS, "dfew")) if labels_dir else None
    if split_dir is None:
        raise DataError(f"{root / 'EmoLabel_DataSplit' / SPLITS[split][0]}: missing DFEW split folder")
    return split_dir / f"set_{fold}.csv"


@register("dfew", splits=tuple(SPLITS), frames=16)
def load_dfew(cfg: DataConfig, split: str, problems: Problems | None) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    table = split_table(root, split, cfg.fold)
    rows = read_rows(table)
    name_col, label_col = column(rows, table, ("video_name",)), column(rows, table, ("label",))
    frames_dir = root / "Clip" / "jpg_256"
    records = []
    for line, row in enumerate(rows, start=2):
        name, label = row.get(name_col, ""), row.get(label_col, "")
        if not (label.isdigit() and 1 <= int(label) <= len(CLASS_NAMES)):
            problem(problems, f"{table}:{line}", f"label {label!r} is not in 1..{len(CLASS_NAMES)}")
            continue
        if not name.isdigit():
            problem(problems, f"{table}:{line}", f"video_name {name!r} is not a clip number")
            continue
        clip_dir = frames_dir / f"{int(name):05d}"
        if not clip_dir.is_dir():
            problem(problems, clip_dir, "missing frame folder")
            continue
        records.append(
            ClipRecord(clip_dir.name, split, CLASS_NAMES[int(label) - 1], relative(root, clip_dir))
        )
    return records, list(CLASS_NAMES)


def average_folds(fold_metrics: list[dict], keys: tuple[str, ...] = ("uar", "war")) -> dict:
    """Mean and sample standard deviation of ``keys`` over per-fold metric dicts.

    Returns ``{"num_folds": n, "uar": mean, "uar_sd": sd, "war": ..., "war_sd": ...}``
    (sd is 0 for a single fold).
    """
    if not fold_metrics:
        raise ValueError("average_folds needs the metrics of at least one fold")
    summary: dict = {"num_folds": len(fold_metrics)}
    for key in keys:
        missing = [i for i, m in enumerate(fold_metrics) if key not in m]
        if missing:
            raise ValueError(f"metric {key!r} missing from fold(s) {[i + 1 for i in missing]}")
        values = np.array([float(m[key]) for m in fold_metrics])
        summary[key] = float(values.mean())
        summary[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return summary
