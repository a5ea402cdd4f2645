"""GAF-3.0 (Group Affect Database 3.0): group photos, 3 classes, T = 1.

Layout::

    ROOT/train/{Positive,Neutral,Negative}/*.jpg
    ROOT/val/{Positive,Neutral,Negative}/*.jpg

Split and class folder names are matched ignoring case (``Train``, ``Val``,
``Validation``), and images are found at any depth under a class folder, which covers
copies nested as ``Train/Positive/Positive/*.jpg``.
"""

from __future__ import annotations

from pathlib import Path

from vemd.config import DataConfig
from vemd.data.loaders import register
from vemd.data.loaders.common import Problems, child_dir, media_items, problem, relative, split_alias
from vemd.data.manifest import ClipRecord
from vemd.data.media import is_image
from vemd.errors import DataError

CLASS_NAMES = ["Positive", "Neutral", "Negative"]
SPLITS = {"train": ("train",), "val": ("val", "validation", "valid")}


@register("gaf3", splits=tuple(SPLITS), frames=1)
def load_gaf3(cfg: DataConfig, split: str, problems: Problems | None) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    split_dir = child_dir(root, split_alias(split, SPLITS, "gaf3"))
    if split_dir is None:
        raise DataError(f"{root}: no {split!r} folder (expected one of {list(SPLITS[split])}, any case)")
    records = []
    for name in CLASS_NAMES:
        class_dir = child_dir(split_dir, (name,))
        if class_dir is None:
            problem(problems, split_dir / name, "missing class folder")
            continue
        for item in media_items(class_dir, recursive=True):
            if not is_image(item):
                problem(problems, item, "not an image (GAF-3.0 holds single images)")
                continue
            clip_id = f"{split}/{name}/{item.relative_to(class_dir).with_suffix('').as_posix()}"
            records.append(ClipRecord(clip_id, split, name, relative(root, item)))
    return records, list(CLASS_NAMES)
