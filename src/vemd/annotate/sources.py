"""What ``vemd annotate`` annotates: (clip_id, media path) items.

With a dataset (``vemd annotate NAME ROOT`` or ``--config RECIPE``), the items are the
records of its loader's training split (the paper annotates the training split only), so
the keys are the ones training reads: :func:`dataset_items`.

For ad-hoc use, :func:`find_items` takes an INPUT: a dataset folder (``manifest.csv``: its
clip ids, the train split by default), a folder of images/videos (searched recursively;
clip_id = the path relative to the folder, suffix kept), or one file (clip_id = its name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vemd.config import DataConfig
from vemd.data.content import shown, source_type
from vemd.data.loaders import load_index
from vemd.data.loaders.common import Problems
from vemd.data.media import is_image, is_video
from vemd.errors import DataError


@dataclass(frozen=True)
class MediaItem:
    """One source to annotate: its clip id (key prefix), media path, and that path relative to
    the dataset root or INPUT folder (``name``, what COCO-WholeBody files call it)."""

    clip_id: str
    path: Path
    name: str


def find_items(source: str | Path, splits: tuple[str, ...] = ("train",)) -> list[MediaItem]:
    """Items of INPUT in a stable order; DataError naming INPUT when it holds nothing to annotate."""
    source = Path(source)
    if not source.exists():
        source_type(source)  # DataError: no such file or folder, a symlink loop, ...
        raise DataError(f"{shown(source)}: no such file or folder")
    if source.is_file() and source.name == "manifest.csv":
        source = source.parent
    if source.is_dir() and (source / "manifest.csv").is_file():
        items = _manifest_items(source, splits)
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and (is_image(p) or is_video(p)))
        names = [p.relative_to(source).as_posix() for p in files]
        items = [MediaItem(name, p, name) for name, p in zip(names, files)]
    else:
        items = [MediaItem(source.name, source, source.name)]
    if not items:
        raise DataError(f"{source}: no images or videos to annotate")
    return items


def _manifest_items(root: Path, splits: tuple[str, ...]) -> list[MediaItem]:
    from vemd.data.manifest import read_manifest

    records, _ = read_manifest(root)
    return [MediaItem(r.clip_id, root / r.path, r.path) for r in records if r.split in splits]


def dataset_items(cfg: DataConfig, problems: Problems | None = None) -> list[MediaItem]:
    """The records of the training split (``data.train_split``) of the dataset ``cfg``
    describes, with its loader's clip ids; bad records go to ``problems`` when given."""
    index = load_index(cfg, cfg.train_split, problems)
    if not index.records:
        raise DataError(f"{index.root}: the {cfg.train_split} split of {cfg.name} holds no clip")
    return [MediaItem(r.clip_id, index.root / r.path, r.path) for r in index.records]
