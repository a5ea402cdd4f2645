"""Layouts not tied to one dataset: ``synth`` (manifest), ``folder`` and ``csv``.

* ``synth`` — the generic layout of :mod:`vemd.data.manifest` (``manifest.csv`` +
  ``classes.json``), as written by ``vemd synth``; records filtered by split.
* ``folder`` — ``ROOT/<split>/<class>/<item>``, an item being an image, a video or a
  folder of frame images. A root with no split level (``ROOT/<class>/<item>``) is one
  split named ``data.train_split``; asking it for another split is an error. Classes
  are the sorted class folder names of the training split unless ``data.class_names`` is
  given, whichever split is read, so label indices agree across splits.
* ``csv`` — ``ROOT/<split>.csv`` with columns ``path,label`` (``path`` relative to
  ROOT); classes in order of first appearance in the training split's table unless
  ``data.class_names`` is given.

A ``folder`` or ``csv`` root holding ``manifest.csv`` is read as the generic layout.
A root written by ``vemd synth`` (SynthGroups or composites) also holds ``dataset.json``, the generation options: its
``frames`` is T of every clip (:func:`recorded_frames`), which ``NAME ROOT`` commands use
as ``data.frames`` in place of the loader's default.
"""

from __future__ import annotations

import json
from pathlib import Path

from vemd.config import DataConfig
from vemd.data.loaders import register
from vemd.data.loaders.common import Problems, column, media_items, problem, read_rows, relative
from vemd.data.manifest import ClipRecord, outside_root, read_manifest
from vemd.errors import DataError, MissingSplit

SYNTH_FORMAT = "vemd-synthgroups"  # the ``format`` of ``dataset.json`` (vemd.synth.generate writes it)
COMPOSITES_FORMAT = "vemd-composites"  # that of the composites of real faces (vemd.synth.composites)
_RECORDED = (SYNTH_FORMAT, COMPOSITES_FORMAT)  # the records whose options.frames is T of every clip


@register("synth", frames=5)
def load_manifest(
    cfg: DataConfig, split: str, problems: Problems | None
) -> tuple[list[ClipRecord], list[str]]:
    records, class_names = read_manifest(cfg.root, problems, split=split)
    chosen = [r for r in records if r.split == split]
    if not chosen:
        present = sorted({r.split for r in read_manifest(cfg.root, [])[0]})
        raise MissingSplit(
            f"{Path(cfg.root) / 'manifest.csv'}: no clip in split {split!r} (splits: {present})"
        )
    return chosen, class_names


def recorded_frames(root: str | Path) -> int | None:
    """T recorded by ``vemd synth`` in ``ROOT/dataset.json``; None when ROOT holds no such record."""
    path = Path(root) / "dataset.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_bytes())
        frames = record["options"]["frames"] if record.get("format") in _RECORDED else None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{path}: unreadable dataset record ({type(err).__name__}: {err})") from err
    if frames is not None and not (isinstance(frames, int) and frames >= 1):
        raise DataError(f"{path}: options.frames must be a positive integer, not {frames!r}")
    return frames


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


@register("folder", frames=5)
def load_folder(cfg: DataConfig, split: str, problems: Problems | None) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    if (root / "manifest.csv").is_file():
        return load_manifest(cfg, split, problems)
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder")
    base = root / split
    if not base.is_dir():
        split_dirs = {cfg.train_split, cfg.val_split, cfg.test_split} & {p.name for p in _class_dirs(root)}
        if split != cfg.train_split or split_dirs:
            raise MissingSplit(f"{base}: no such split folder")
        base = root  # no split level: the whole root is the training split
    train_base = root / cfg.train_split if (root / cfg.train_split).is_dir() else root
    class_names = list(cfg.class_names or (p.name for p in _class_dirs(train_base)))
    records = []
    for class_dir in _class_dirs(base):
        if class_dir.name not in class_names:
            problem(problems, class_dir, f"class folder not in data.class_names {class_names}")
            continue
        for item in media_items(class_dir, recursive=False):
            clip_id = f"{split}/{class_dir.name}/{item.stem}"
            records.append(ClipRecord(clip_id, split, class_dir.name, relative(root, item)))
    return records, class_names


def _first_labels(table: Path) -> list[str]:
    """Labels of a ``path,label`` table in order of first appearance."""
    rows = read_rows(table)
    label_col = column(rows, table, ("label",))
    return list(dict.fromkeys(r[label_col] for r in rows))


@register("csv", frames=5)
def load_csv(cfg: DataConfig, split: str, problems: Problems | None) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    if (root / "manifest.csv").is_file():
        return load_manifest(cfg, split, problems)
    table = root / f"{split}.csv"
    rows = read_rows(table)
    path_col, label_col = column(rows, table, ("path",)), column(rows, table, ("label",))
    class_names = cfg.class_names or _first_labels(root / f"{cfg.train_split}.csv")
    records = []
    for line, row in enumerate(rows, start=2):
        path, label = row.get(path_col, ""), row.get(label_col, "")
        if label not in class_names:
            problem(problems, f"{table}:{line}", f"label {label!r} is not one of {class_names}")
        elif outside := outside_root("path", path):
            problem(problems, f"{table}:{line}", outside)
        elif not (root / path).exists():
            problem(problems, root / path, "missing file")
        else:
            records.append(ClipRecord(f"{split}/{Path(path).with_suffix('').as_posix()}", split, label, path))
    return records, class_names
