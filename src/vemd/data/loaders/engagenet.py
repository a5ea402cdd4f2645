"""EngageNet (engagement in online video-conference classes): 4 levels, 10 frames.

EngageNet is shared on request and its archive layout is not publicly documented;
this loader assumes the usual one (a label table per split plus the 10 s clips)::

    ROOT/.../{train,validation,test}*.csv      one row per clip, any column order:
                                               clip id in one of chunk, clip, video,
                                               video_name, name, file; label in one of
                                               label, engagement, class
    ROOT/.../<clip id>.<video suffix>          anywhere under ROOT

Label tables are the ``.csv`` files whose name starts with the split's name (``val``
also matches ``validation`` and ``valid``), ignoring case. Labels are matched
ignoring case, spaces, ``_`` and ``-`` (``Highly-Engaged``, ``highly_engaged``).
"""

from __future__ import annotations

import re
from pathlib import Path

from vemd.config import DataConfig
from vemd.data.loaders import register
from vemd.data.loaders.common import (
    Problems,
    column,
    problem,
    read_rows,
    relative,
    split_alias,
    videos_by_stem,
    walk_files,
)
from vemd.data.manifest import ClipRecord
from vemd.errors import DataError

CLASS_NAMES = ["Not-Engaged", "Barely-Engaged", "Engaged", "Highly-Engaged"]
SPLITS = {"train": ("train",), "val": ("validation", "valid", "val"), "test": ("test",)}
ID_COLUMNS = ("chunk", "clip", "clip_id", "video", "video_name", "name", "file", "filename")
LABEL_COLUMNS = ("label", "engagement", "class")


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text.lower())


LABELS = {_key(name): name for name in CLASS_NAMES}


def label_tables(files: list[Path], split: str) -> list[Path]:
    prefixes = tuple(a.lower() for a in split_alias(split, SPLITS, "engagenet"))
    return [f for f in files if f.suffix.lower() == ".csv" and f.name.lower().startswith(prefixes)]


@register("engagenet", splits=tuple(SPLITS), frames=10)
def load_engagenet(
    cfg: DataConfig, split: str, problems: Problems | None
) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    files = walk_files(root)
    tables = label_tables(files, split)
    if not tables:
        raise DataError(f"{root}: no {SPLITS[split][0]}*.csv label table under this folder")
    videos = videos_by_stem(files)
    records = []
    for table in tables:
        rows = read_rows(table)
        id_col, label_col = column(rows, table, ID_COLUMNS), column(rows, table, LABEL_COLUMNS)
        for line, row in enumerate(rows, start=2):
            clip, label = Path(row.get(id_col, "")).stem, LABELS.get(_key(row.get(label_col, "")))
            if label is None:
                problem(
                    problems, f"{table}:{line}", f"label {row.get(label_col)!r} is not one of {CLASS_NAMES}"
                )
            elif clip not in videos:
                problem(problems, root / clip, f"missing video listed in {table.name}")
            else:
                path = relative(root, videos[clip])
                records.append(ClipRecord(clip, split, label, path, audio=path))
    return records, list(CLASS_NAMES)
