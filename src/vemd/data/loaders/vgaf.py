"""VGAF (Video Group AFfect, EmotiW): 5 s group clips, 3 classes, 5 frames 1 s apart.

Layout (as distributed; folder names vary between copies)::

    ROOT/.../Train_labels.txt     "Vid_name Label" header, space separated,
    ROOT/.../Val_labels.txt       Label 1 = Positive, 2 = Neutral, 3 = Negative
    ROOT/.../<Vid_name>.mp4       anywhere under ROOT (e.g. Train/, Val/)

The label files and videos are searched once under ROOT; videos are matched by file
name without suffix. The audio track, used by the multimodal branch, is the video's.
"""

from __future__ import annotations

from pathlib import Path

from vemd.config import DataConfig
from vemd.data.loaders import register
from vemd.data.loaders.common import (
    Problems,
    column,
    find_file,
    problem,
    read_rows,
    relative,
    split_alias,
    videos_by_stem,
    walk_files,
)
from vemd.data.manifest import ClipRecord
from vemd.errors import DataError

CLASS_NAMES = ["Positive", "Neutral", "Negative"]
LABELS = {"1": "Positive", "2": "Neutral", "3": "Negative"}
SPLITS = {"train": ("Train_labels.txt",), "val": ("Val_labels.txt", "Validation_labels.txt")}


@register("vgaf", splits=tuple(SPLITS), frames=5, sampling="fps", interval=1.0)
def load_vgaf(cfg: DataConfig, split: str, problems: Problems | None) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    names = split_alias(split, SPLITS, "vgaf")
    files = walk_files(root)
    table = find_file(root, names, files)
    if table is None:
        raise DataError(f"{root}: no {names[0]} under this folder")
    rows = read_rows(table, delimiter=" ")
    name_col, label_col = (
        column(rows, table, ("vid_name", "video_name", "name")),
        column(rows, table, ("label",)),
    )
    videos = videos_by_stem(files)
    records = []
    for line, row in enumerate(rows, start=2):
        stem, label = Path(row.get(name_col, "")).stem, LABELS.get(row.get(label_col, ""))
        if label is None:
            problem(problems, f"{table}:{line}", f"label {row.get(label_col)!r} is not 1, 2 or 3")
        elif stem not in videos:
            problem(problems, root / f"{stem}.mp4", f"missing video listed in {table.name}")
        else:
            path = relative(root, videos[stem])
            records.append(ClipRecord(stem, split, label, path, audio=path))
    return records, list(CLASS_NAMES)
