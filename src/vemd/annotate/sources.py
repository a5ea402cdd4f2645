"""What ``vemd annotate`` annotates: (clip_id, media path) items found in its INPUT.

INPUT is a dataset folder (``manifest.csv``: its clip ids, the train split by default,
since the paper annotates the training split only), a folder of images/videos (searched
recursively; clip_id = the path relative to the folder, suffix kept), or one file
(clip_id = its name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vemd.data.media import is_image, is_video
from vemd.errors import DataError


@dataclass(frozen=True)
class MediaItem:
    """One source to annotate: its clip id (key prefix) and media path."""

    clip_id: str
    path: Path


def find_items(source: str | Path, splits: tuple[str, ...] = ("train",)) -> list[MediaItem]:
    """Items of INPUT in a stable order; DataError naming INPUT when it holds nothing to annotate."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_file() and source.name == "manifest.csv":
        source = source.parent
    if source.is_dir() and (source / "manifest.csv").is_file():
        items = _manifest_items(source, splits)
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and (is_image(p) or is_video(p)))
        items = [MediaItem(p.relative_to(source).as_posix(), p) for p in files]
    else:
        items = [MediaItem(source.name, source)]
    if not items:
        raise DataError(f"{source}: no images or videos to annotate")
    return items


def _manifest_items(root: Path, splits: tuple[str, ...]) -> list[MediaItem]:
    from vemd.data.manifest import read_manifest

    records, _ = read_manifest(root)
    return [MediaItem(r.clip_id, root / r.path) for r in records if r.split in splits]
