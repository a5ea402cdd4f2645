"""Media of known identities, and group scenes with the identities they show.

Identity folders (``vemd audit --identities DIR``)::

    DIR/<identity>/<file>               images, videos, frame folders or audio files
    DIR/<identity>/<recording>/<file>   the same, one folder per recording (session, sequence, video)

or EMO-DB's flat folder of speaker-coded WAVs (``03a01Fa.wav``: speaker ``03``, text ``a01``,
emotion ``F``, version ``a``), detected from the file names or asked for with ``layout="emodb"``.

An item's recording is the folder it sits in under its identity's folder: the audit never puts
items of one recording on both sides of a split (:mod:`vemd.privacy.grouping`). A subfolder
holding videos, audio files or frame folders is a recording folder; one holding images only is
a frame folder (one item, a video as frames) unless ``layout="sessions"`` says every subfolder
is a recording whose images are items of their own (``DIR/S037/001/frame_17.png``).

Group scenes (``--groups DIR``): ``DIR/members.csv`` with columns ``file`` (relative to DIR)
and ``identities`` (the identity names present, joined with ``;``), as ``vemd synth
--identities`` writes them; a scene's recording is the subfolder of DIR it sits in
(``DIR/<recording>/<file>``), None for a file of DIR itself.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from vemd.errors import DataError

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus"})
LAYOUTS = ("auto", "folders", "sessions", "emodb")
# EMO-DB (Burkhardt et al., 2005): speaker (2 digits), text (a|b + 2 digits), emotion letter, version.
EMODB_NAME = re.compile(r"^(?P<speaker>\d{2})[ab]\d{2}[WLEAFTN][a-z]\.wav$")
MEMBERS = "members.csv"


@dataclass(frozen=True)
class Item:
    """One medium of one identity: ``kind`` is ``visual`` (image, video, frame folder) or ``audio``."""

    path: Path
    identity: str
    kind: str
    recording: str | None = None  # its recording folder's name under the identity's; None outside one


@dataclass(frozen=True)
class GroupScene:
    """One group scene and the identities among its people."""

    path: Path
    identities: frozenset[str]
    recording: str | None = None  # the subfolder of the groups folder it sits in; None for DIR itself


def media_kind(path: Path) -> str | None:
    """``visual``, ``audio`` or None (not a medium) for a file or a folder of frames."""
    from vemd.data.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, is_image  # numpy, PIL: not for `vemd --help`

    suffix = path.suffix.lower()
    if path.is_dir():
        return "visual" if any(is_image(p) for p in path.iterdir()) else None
    if suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES:
        return "visual"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return None


def find_identities(root: str | Path, layout: str = "auto") -> list[Item]:
    """Every item under ``root`` with its identity, sorted by identity then path.

    Raises a one-line :class:`DataError` naming ``root`` for a missing folder, an unknown
    layout, fewer than two identities, or identities whose items mix visual and audio media.
    """
    root = Path(root)
    if layout not in LAYOUTS:
        raise DataError(f"--layout {layout}: expected one of {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise DataError(f"{root}: no such folder of identities")
    if layout == "emodb" or (layout == "auto" and _looks_like_emodb(root)):
        items = _emodb_items(root)
    else:
        items = _folder_items(root, sessions=layout == "sessions")
    identities = sorted({item.identity for item in items})
    if len(identities) < 2:
        raise DataError(
            f"{root}: {len(identities)} identit{'y' if len(identities) == 1 else 'ies'} with media found; "
            "re-identification needs at least 2 (layout: DIR/<identity>/<files>, or EMO-DB file names)"
        )
    kinds = {item.kind for item in items}
    if len(kinds) > 1:
        raise DataError(f"{root}: mixes images/videos and audio files; audit one kind of media at a time")
    return sorted(items, key=lambda item: (item.identity, str(item.path)))


def _looks_like_emodb(root: Path) -> bool:
    wavs = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() == ".wav"]
    return bool(wavs) and all(EMODB_NAME.match(p.name) for p in wavs)


def _emodb_items(root: Path) -> list[Item]:
    items = []
    for path in sorted(root.iterdir()):
        match = EMODB_NAME.match(path.name) if path.is_file() else None
        if match:
            items.append(Item(path, match["speaker"], "audio"))
    if not items:
        raise DataError(f"{root}: no EMO-DB file names (e.g. 03a01Fa.wav) in this folder")
    return items


def _folder_items(root: Path, *, sessions: bool) -> list[Item]:
    items = []
    for folder in _visible(root, dirs=True):
        for path in _visible(folder):
            if path.is_dir() and (sessions or _is_recording_folder(path)):
                items += [Item(p, folder.name, kind, path.name) for p, kind in _media(path)]
            elif (kind := media_kind(path)) is not None:
                items.append(Item(path, folder.name, kind))
    return items


def _visible(folder: Path, *, dirs: bool = False) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and (p.is_dir() or not dirs))


def _media(folder: Path) -> list[tuple[Path, str]]:
    """The media of a folder with their kinds."""
    return [(p, kind) for p in _visible(folder) if (kind := media_kind(p)) is not None]


def _is_recording_folder(folder: Path) -> bool:
    """A folder holding a medium other than a plain image (a video, an audio file, a frame folder)
    is a recording of several items; one of images only is a frame folder, a single item."""
    from vemd.data.media import is_image

    return any(not (p.is_file() and is_image(p)) for p, _ in _media(folder))


def read_groups(root: str | Path) -> list[GroupScene]:
    """The scenes of ``root/members.csv``; one-line DataError for a missing or bad file."""
    root = Path(root)
    path = root / MEMBERS
    if not path.is_file():
        raise DataError(f"{path}: missing (--groups wants a folder with members.csv: file,identities)")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: unreadable ({err})") from err
    if not rows or not {"file", "identities"} <= set(rows[0]):
        raise DataError(f"{path}: expected the columns file,identities")
    scenes = []
    for line, row in enumerate(rows, start=2):
        scene = root / (row["file"] or "")
        if not row["file"] or not scene.exists():
            raise DataError(f"{path}: line {line}: no such scene {row['file']!r}")
        members = frozenset(name.strip() for name in (row["identities"] or "").split(";") if name.strip())
        folder = Path(row["file"]).parent.as_posix()
        scenes.append(GroupScene(scene, members, None if folder == "." else folder))
    return scenes
