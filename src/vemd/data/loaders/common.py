"""Helpers the dataset loaders share: problem reporting, file search, tables."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from vemd.data.media import is_image, is_video
from vemd.errors import DataError

Problems = list[tuple[str, str]]


def problem(problems: Problems | None, path: str | Path, message: str) -> None:
    """Record a bad item, or raise when the caller does not collect problems."""
    if problems is None:
        raise DataError(f"{path}: {message}")
    problems.append((str(path), message))


def relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def split_alias(split: str, aliases: dict[str, tuple[str, ...]], dataset: str) -> tuple[str, ...]:
    """The on-disk names of a split (``aliases`` maps split → accepted names)."""
    if split not in aliases:
        raise DataError(f"{dataset}: no split {split!r} (splits: {', '.join(aliases)})")
    return aliases[split]


def child_dir(parent: Path, names: tuple[str, ...]) -> Path | None:
    """The sub-folder of ``parent`` whose name matches one of ``names``, ignoring case."""
    wanted = [n.lower() for n in names]
    if not parent.is_dir():
        return None
    found = {p.name.lower(): p for p in parent.iterdir() if p.is_dir()}
    return next((found[n] for n in wanted if n in found), None)


def walk_files(root: Path) -> list[Path]:
    """Every file under ``root`` (symlinks followed), in a stable order."""
    files = []
    for folder, dirs, names in os.walk(root, followlinks=True):
        dirs.sort()
        files.extend(Path(folder) / n for n in sorted(names))
    return files


def find_file(root: Path, names: tuple[str, ...], files: list[Path] | None = None) -> Path | None:
    """The first file under ``root`` named one of ``names`` (ignoring case), shallowest first."""
    wanted = {n.lower() for n in names}
    matches = [f for f in (files if files is not None else walk_files(root)) if f.name.lower() in wanted]
    return min(matches, key=lambda p: (len(p.parts), str(p))) if matches else None


def videos_by_stem(files: list[Path]) -> dict[str, Path]:
    """Video files indexed by file name without suffix (the first one found wins)."""
    index: dict[str, Path] = {}
    for path in files:
        if is_video(path):
            index.setdefault(path.stem, path)
    return index


def media_items(folder: Path, *, recursive: bool) -> list[Path]:
    """Images, videos and frame folders (folders holding images) inside ``folder``."""
    if recursive:
        return [f for f in walk_files(folder) if is_image(f) or is_video(f)]
    items = []
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and (is_image(path) or is_video(path))
            or path.is_dir()
            and any(is_image(p) for p in path.iterdir())
        ):
            items.append(path)
    return items


def read_rows(path: Path, *, delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a delimited text file with header names stripped and lower-cased."""
    if not path.is_file():
        raise DataError(f"{path}: missing label file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter, skipinitialspace=True)
            rows = [r for r in reader if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: unreadable label file ({err})") from err
    if not rows:
        raise DataError(f"{path}: empty label file")
    header = [h.strip().lower() for h in rows[0]]
    return [dict(zip(header, (c.strip() for c in row))) for row in rows[1:]]


def column(rows: list[dict[str, str]], path: Path, candidates: tuple[str, ...]) -> str:
    """The first of ``candidates`` that is a column of ``rows``."""
    if not rows:
        return candidates[0]
    names = rows[0].keys()
    found = next((c for c in candidates if c in names), None)
    if found is None:
        raise DataError(f"{path}: expected a column named one of {list(candidates)}, found {list(names)}")
    return found
