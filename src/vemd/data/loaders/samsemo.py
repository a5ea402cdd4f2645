"""SAMSEMO (multilingual, multimodal emotion corpus): 5 classes, 10 frames, transcripts.

Layout, as published on the Hugging Face hub (``SamsungNLP/SAMSEMO``) once the
per-language ``data/*.zip`` archives are unpacked::

    ROOT/samsemo.tsv                      tab-separated metadata, one row per utterance:
                                          utterance_id, language, aggregated_emotions,
                                          transcript, ... (other columns are ignored)
    ROOT/splits/{train,valid,test}_split_<LANG>.txt    one utterance_id per line
    ROOT/.../<utterance_id>.mp4 (.wav)    anywhere under ROOT

Every language present is used (the union of ``<split>_split_*.txt``); split ``val``
reads the ``valid`` lists. Classes, with anger and disgust merged into ``anger``::

    neutral ← neutral      happiness ← happiness, happy    sadness ← sadness, sad
    anger   ← anger, angry, disgust                        surprise ← surprise

Assumed, as the distribution does not document it: ``aggregated_emotions`` holds
one or more emotion names separated by ``,`` ``;`` ``|`` or ``/``; an utterance is
kept when all its names map to one class. Utterances labelled ``fear`` or ``other``,
or with names mapping to different classes, are left out of the 5-class task (not
reported as problems); any other name is reported as a bad label. The transcript
goes to ``ClipRecord.text``, the ``.wav`` (or else the video) to ``audio``.
"""

from __future__ import annotations

import re
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

CLASS_NAMES = ["neutral", "happiness", "sadness", "anger", "surprise"]
LABEL_MAP = {
    "neutral": "neutral",
    "happiness": "happiness",
    "happy": "happiness",
    "sadness": "sadness",
    "sad": "sadness",
    "anger": "anger",
    "angry": "anger",
    "disgust": "anger",
    "surprise": "surprise",
}
EXCLUDED = frozenset({"fear", "other"})
SPLITS = {"train": ("train",), "val": ("valid", "val"), "test": ("test",)}


def map_label(aggregated: str) -> str | None:
    """The 5-class label of an ``aggregated_emotions`` value; None when left out.

    Raises KeyError naming the first emotion name outside the known set.
    """
    names = [n.strip() for n in re.split(r"[,;|/]", aggregated.lower()) if n.strip()]
    if not names:
        raise KeyError(aggregated)
    for name in names:
        if name not in LABEL_MAP and name not in EXCLUDED:
            raise KeyError(name)
    classes = {LABEL_MAP.get(n) for n in names}
    return classes.pop() if len(classes) == 1 else None


def split_ids(root: Path, split: str) -> list[str]:
    aliases = split_alias(split, SPLITS, "samsemo")
    split_dir = root / "splits"
    lists = (
        sorted(p for a in aliases for p in split_dir.glob(f"{a}_split_*.txt")) if split_dir.is_dir() else []
    )
    if not lists:
        raise DataError(f"{split_dir}: no {aliases[0]}_split_<LANG>.txt list")
    return list(
        dict.fromkeys(line.strip() for p in lists for line in p.read_text().splitlines() if line.strip())
    )


@register("samsemo", splits=tuple(SPLITS), frames=10)
def load_samsemo(
    cfg: DataConfig, split: str, problems: Problems | None
) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    files = walk_files(root)
    table = find_file(root, ("samsemo.tsv",), files)
    if table is None:
        raise DataError(f"{root}: no samsemo.tsv metadata file under this folder")
    rows = read_rows(table, delimiter="\t")
    id_col = column(rows, table, ("utterance_id",))
    label_col = column(rows, table, ("aggregated_emotions",))
    meta = {row.get(id_col, ""): (line, row) for line, row in enumerate(rows, start=2)}
    videos = videos_by_stem(files)
    audio = {p.stem: p for p in files if p.suffix.lower() == ".wav"}
    records = []
    for utterance in split_ids(root, split):
        if utterance not in meta:
            problem(problems, table, f"utterance {utterance!r} of the {split} list has no metadata row")
            continue
        line, row = meta[utterance]
        try:
            label = map_label(row.get(label_col, ""))
        except KeyError as err:
            problem(problems, f"{table}:{line}", f"emotion {err.args[0]!r} is not a SAMSEMO emotion")
            continue
        if label is None:
            continue
        if utterance not in videos:
            problem(problems, root / f"{utterance}.mp4", "missing video")
            continue
        path = relative(root, videos[utterance])
        sound = relative(root, audio[utterance]) if utterance in audio else path
        records.append(
            ClipRecord(utterance, split, label, path, audio=sound, text=row.get("transcript") or None)
        )
    return records, list(CLASS_NAMES)
