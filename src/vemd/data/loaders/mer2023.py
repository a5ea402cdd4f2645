"""MER2023, MER-MULTI track: 6 discrete emotions plus a valence target, 10 frames.

Layout (as distributed)::

    ROOT/.../train-label.csv            name,discrete,valence
    ROOT/.../test{1,2,3}-label.csv      same columns (valence may be absent)
    ROOT/.../<name>.<video suffix>      anywhere under ROOT

Splits and the paper's counts (Table 2: 3,373 training clips, 2,341 validation clips):

* ``train``: every row of ``train-label.csv``, the 3,373 clips of Table 2's training set
  (before the 3,272 that survive automatic annotation, which ``vemd fit`` drops itself).
* ``test1`` (MER-MULTI, 411 labelled clips), ``test2`` (MER-NOISE, 412), ``test3``
  (MER-SEMI, 834 labelled): the challenge's test lists. The paper reports MER-MULTI on its
  evaluation split, i.e. ``test1``; a paper recipe trains on ``train`` and selects and
  reports on ``test1``.
* ``train90`` / ``val``: MER2023 ships no validation list, so for model selection apart from
  the reported split ``val`` is a deterministic 10 % of ``train-label.csv`` (the clips whose
  CRC-32 of ``name`` is 0 mod 10, stable when clips are added or removed) and ``train90``
  the other 90 %.

Table 2's 2,341 validation clips match no list MER2023 distributes (nor a sum of them:
411 + 412 + 834 = 1,657), so that split cannot be rebuilt. ``ClipRecord.valence`` holds the
valence (None where a row has none); the audio track is the video's.
"""

from __future__ import annotations

import math
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
    "train90": ("train-label.csv",),
    "val": ("train-label.csv",),
    "test1": ("test1-label.csv",),
    "test2": ("test2-label.csv",),
    "test3": ("test3-label.csv",),
}
VAL_MODULUS = 10


def in_val(name: str) -> bool:
    """Whether a clip of ``train-label.csv`` is in the held-out 10 % ``val`` (else in ``train90``)."""
    return zlib.crc32(name.encode()) % VAL_MODULUS == 0


def _valence(text: str | None) -> float | None:
    """The valence of a row, None where the cell is empty; ValueError when it is not a number."""
    if text is None or not text.strip():
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


@register("mer2023", splits=("train", "train90", "val", "test1", "test2", "test3"), frames=10)
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
        if split in ("train90", "val") and in_val(name) != (split == "val"):
            continue
        try:
            valence = _valence(row.get("valence"))
        except ValueError:
            problem(problems, f"{table}:{line}", f"valence {row['valence']!r} is not a number")
            continue
        if label not in CLASS_NAMES:
            problem(problems, f"{table}:{line}", f"label {label!r} is not one of {CLASS_NAMES}")
        elif name not in videos:
            problem(problems, root / name, f"missing video listed in {table.name}")
        else:
            path = relative(root, videos[name])
            records.append(ClipRecord(name, split, label, path, valence=valence, audio=path))
    return records, list(CLASS_NAMES)
