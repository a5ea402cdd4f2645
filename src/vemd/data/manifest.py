"""The generic on-disk dataset layout (written by ``vemd synth``, usable for any data).

::

    ROOT/
      manifest.csv     clip_id,split,label,path[,audio][,text][,valence,arousal,va_file,start_frame,end_frame]
      classes.json     {"class_names": [...], "task": "ger"}   (class order = label index)
      annotations/     optional AnnotationStore; keys "<clip_id>/<frame_index>"
      ...              the media: ``path`` (relative to ROOT) is an image file, a video
                       file, or a folder of frame images (read in sorted name order)

The optional columns are written only when some record has them, and read when present
(an empty cell is None): ``audio`` names a file holding the clip's audio track, relative to
ROOT like ``path`` (and, like it, not resolved here); ``text`` is a transcript and may hold
commas, quotes and newlines (CSV quoting). The four base columns and ``audio`` hold no comma
or newline. ``valence`` and ``arousal`` are the clip's continuous targets in [-1, 1];
``va_file`` names a per-frame valence/arousal text file in the AffWild2 layout (a
``valence,arousal`` header, then one line per source frame, -5 where a frame is not
annotated; :mod:`vemd.data.va`); ``start_frame``/``end_frame`` (end exclusive) make the item
a span of its source video, as the long AffWild2 videos are cut into windows.

``path``, ``audio`` and ``va_file`` stay inside ROOT: an absolute path or one whose ``..``
leads out of it is a bad row (a manifest names its own dataset's files, nothing elsewhere).

``frame_index`` in an annotation key is the index of the frame in its source: the
position in the sorted folder, the decoded frame number in a video, 0 for an image.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from vemd.errors import DataError
from vemd.io import atomic_write_text

MANIFEST_COLUMNS = ("clip_id", "split", "label", "path")
OPTIONAL_COLUMNS = ("audio", "text", "valence", "arousal", "va_file", "start_frame", "end_frame")
_NUMBER_COLUMNS = {"valence": float, "arousal": float, "start_frame": int, "end_frame": int}


@dataclass(frozen=True)
class ClipRecord:
    """One labelled item: its id, split, class name and media path (relative to root).

    Dataset loaders may fill the optional fields: ``valence`` / ``arousal`` (regression
    targets, e.g. MER2023's valence), ``va_file`` (per-frame valence/arousal, AffWild2 text
    layout), ``start_frame`` / ``end_frame`` (the item is that span of its video), ``audio`` (a
    file holding the audio track, often the video itself) and ``text`` (a transcript) for the
    multimodal branches.
    """

    clip_id: str
    split: str
    label: str
    path: str
    valence: float | None = None
    audio: str | None = None
    text: str | None = None
    arousal: float | None = None
    va_file: str | None = None
    start_frame: int | None = None
    end_frame: int | None = None


def annotation_key(clip_id: str, frame_index: int) -> str:
    """Key of one frame in an annotation store."""
    return f"{clip_id}/{int(frame_index)}"


def write_manifest(root: str | Path, records: list[ClipRecord], class_names: list[str], **extra) -> None:
    """Write ``manifest.csv`` and ``classes.json`` atomically; ``audio``/``text`` only if some record has one."""
    root = Path(root)
    optional = [c for c in OPTIONAL_COLUMNS if any(getattr(r, c) is not None for r in records)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*MANIFEST_COLUMNS, *optional])
    for r in records:
        row = [r.clip_id, r.split, r.label, r.path]
        if any(c in v for v in (*row, r.audio or "", r.va_file or "") for c in ",\r\n"):
            raise DataError(
                f"{root / 'manifest.csv'}: a field of clip {r.clip_id!r} contains a comma or newline"
            )
        writer.writerow([*row, *("" if getattr(r, c) is None else getattr(r, c) for c in optional)])
    atomic_write_text(root / "manifest.csv", buffer.getvalue())
    atomic_write_text(
        root / "classes.json", json.dumps({"class_names": list(class_names), **extra}, indent=2)
    )


def read_manifest(
    root: str | Path, problems: list[tuple[str, str]] | None = None, *, split: str | None = None
) -> tuple[list[ClipRecord], list[str]]:
    """Records and class names of a dataset folder, validated (labels, columns, ids).

    A row with an unknown or empty label, a missing field or a repeated clip id raises
    DataError naming ``manifest.csv:LINE``, or, when ``problems`` is a list, is appended to
    it as ``(path, message)`` and left out; an unreadable file always raises. With ``split``,
    only that split's rows are returned and judged (a row with no split belongs to every
    split); clip ids must still be unique across the whole manifest. LINE is where the row
    ends (a quoted transcript may span lines). ``audio`` and ``text`` columns, when present,
    fill those fields as written (an empty cell is None).
    """
    root = Path(root)
    manifest, classes_file = root / "manifest.csv", root / "classes.json"
    for path in (manifest, classes_file):
        if not path.is_file():
            raise DataError(f"{path}: missing (a dataset folder needs manifest.csv and classes.json)")
    class_names = _read_class_names(classes_file)
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise DataError(f"{manifest}: missing columns {sorted(missing)}")
            rows = [(reader.line_num, row) for row in reader]  # the line where the row ends
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{manifest}: unreadable manifest, expected UTF-8 CSV text ({err})") from err
    records, seen = [], set()
    for line, row in rows:
        optional = {c: (row.get(c) or "").strip() or None for c in OPTIONAL_COLUMNS}
        numbers, bad = _numbers(optional)
        record = ClipRecord(*((row[c] or "").strip() for c in MANIFEST_COLUMNS), **{**optional, **numbers})
        if split is not None and record.split and record.split != split:
            seen.add(record.clip_id)
            continue
        if any(not value for value in (record.clip_id, record.split, record.path)):
            fault = f"empty or missing field (row {list(row.values())})"
        elif bad:
            fault = bad
        elif outside := next(filter(None, (outside_root(c, getattr(record, c)) for c in PATH_COLUMNS)), None):
            fault = outside
        elif record.label not in class_names:
            fault = f"label {record.label!r} is not one of {class_names}"
        elif record.clip_id in seen:
            fault = f"duplicate clip_id {record.clip_id!r}"
        else:
            seen.add(record.clip_id)
            records.append(record)
            continue
        if problems is None:
            raise DataError(f"{manifest}:{line}: {fault}")
        problems.append((f"{manifest}:{line}", fault))
    return records, class_names


PATH_COLUMNS = ("path", "audio", "va_file")  # the columns naming files, relative to ROOT


def outside_root(column: str, value: str | None) -> str | None:
    """Why the file a table's ``column`` names is not inside ROOT (an absolute path, or a ``..``
    leading out), or None: a dataset's table names its own files, never one elsewhere."""
    if value is None:
        return None
    if Path(value).is_absolute() or Path(value).drive:
        return f"{column} {value!r} is absolute; paths are relative to the dataset folder"
    if os.path.normpath(value).split(os.sep)[0] == "..":
        return f"{column} {value!r} leads out of the dataset folder"
    return None


def _numbers(optional: dict) -> tuple[dict, str | None]:
    """The numeric optional cells parsed; the first one that is not a number, as a fault."""
    out = {}
    for column, kind in _NUMBER_COLUMNS.items():
        text = optional.get(column)
        if text is None:
            continue
        try:
            out[column] = kind(text)
        except ValueError:
            return {
                column: None for column in _NUMBER_COLUMNS
            }, f"{column} {text!r} is not {'an integer' if kind is int else 'a number'}"
    return out, None


def _read_class_names(path: Path) -> list[str]:
    try:
        names = json.loads(path.read_bytes())["class_names"]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{path}: unreadable class list ({type(err).__name__}: {err})") from err
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise DataError(f"{path}: class_names must be a non-empty list of names, not {names!r}")
    from vemd.config import class_name_problems

    for problem in class_name_problems("class_names", names):
        raise DataError(f"{path}: {problem}")
    return names
