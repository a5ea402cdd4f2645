"""MER2023, MER-MULTI track: 6 discrete emotions plus a valence target, 10 frames.

Layout (as distributed)::

    ROOT/.../train-label.csv            name,discrete,valence
    ROOT/.../test{1,2,3}-label.csv      same columns (valence may be absent)
    ROOT/.../<name>.<video suffix>      anywhere under ROOT

Splits: ``train``, ``val``, ``trainval``, ``test1``, ``test2``, ``test3``. MER2023 ships
no validation list: ``val`` is a deterministic 10 % of ``train-label.csv`` (the clips
whose CRC-32 of ``name`` is 0 mod 10, stable when clips are added or removed),
``train`` is the other 90 %, ``trainval`` all of it. ``ClipRecord.valence`` holds
the valence; the audio track is the video's.
"""

from __future__ import annotations

import zlib
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

CLASS_NAMES = ["worried", "happy", "neutral", "sad", "angry", "surprise"]
TABLES = {
    "train": ("train-label.csv",),
    "val": ("train-label.csv",),
    "trainval": ("train-label.csv",),
    "test1": ("test1-label.csv",),
    "test2": ("test2-label.csv",),
    "test3": ("test3-label.csv",),
}
VAL_MODULUS = 10


def in_val(name: str) -> bool:
    """Whether a training clip belongs to the held-out 10 % ``val`` split."""
    return zlib.crc32(name.encode()) % VAL_MODULUS == 0


def _valence(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


@register("mer2023", splits=("train", "val", "test1", "test2", "test3"), frames=10)
def load_mer2023(
    cfg: DataConfig, split: str, problems: Problems | None
) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    files = walk_files(root)
    table = find_file(root, split_alias(split, TABLES, "mer2023"), files)
    if table is None:
        raise DataError(f"{root}: no {TABLES[split][0]} under this folder")
    rows = read_rows(table)
    name_col, label_col = column(rows, table, ("name",)), column(rows, table, ("discrete",))
    videos = videos_by_stem(files)
    records = []
    for line, row in enumerate(rows, start=2):
        name, label = row.get(name_col, ""), row.get(label_col, "").lower()
        if split in ("train", "val") and in_val(name) != (split == "val"):
            continue
        if label not in CLASS_NAMES:
            problem(problems, f"{table}:{line}", f"label {label!r} is not one of {CLASS_NAMES}")
        elif name not in videos:
            problem(problems, root / name, f"missing video listed in {table.name}")
        else:
            path = relative(root, videos[name])
            records.append(
                ClipRecord(name, split, label, path, valence=_valence(row.get("valence")), audio=path)
            )
    return records, list(CLASS_NAMES)
