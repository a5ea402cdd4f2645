"""What a vemd command leaves on disk, and what its public outputs say: checks shared by the
privacy tests (``vemd predict``, ``vemd serve``, ``vemd audit``).

Disk:

* :func:`snapshot` lists every file under some folders with its size and modification time;
  :func:`new_files` gives the files of a later snapshot that are new or changed.
* :func:`media_kind` tells an image, video, audio or image-shaped array file by its first bytes
  (never by its name); :func:`new_media_files` applies it to the new files of two snapshots.
* :class:`WriteSpy` records every path the Python process opens for writing, renames or copies
  onto, anywhere on the file system (through :func:`sys.addaudithook`): it sees a frame written
  outside the watched folders, or written and deleted before the second snapshot. Writes made
  by C code that bypasses Python's ``open`` (OpenCV's ``imwrite``, FFmpeg muxers) raise no audit
  event: inside watched folders the snapshots still see them.

Typical use (``TMPDIR`` pointed at a fresh folder under ``root`` first, see :func:`use_tmpdir`)::

    before = snapshot(root)
    with WriteSpy() as spy:
        main(["predict", ...])
    after = snapshot(root)
    assert not new_media_files(before, after)
    assert not spy.media_writes()

Public outputs:

* :func:`key_paths` lists the key paths of a JSON value (``windows[].probs.<class>``);
  :func:`per_person_keys` picks the keys among them that name a person-level quantity.

Models: :func:`model_files` writes a tiny model as ``vemd fit`` leaves a run.
"""

from __future__ import annotations

import ast
import os
import re
import stat
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

Snapshot = dict[str, tuple[int, int]]  # absolute path → (size in bytes, mtime in ns)

# Suffixes of media files; a file is judged by its bytes, a suffix only flags a write that is gone.
MEDIA_SUFFIXES = frozenset(
    {
        *(".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".bmp", ".tif", ".tiff", ".webp"),
        *(".heic", ".avif", ".ppm", ".pgm", ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"),
        *(".mpg", ".mpeg", ".ts", ".flv", ".3gp", ".y4m", ".wav", ".flac", ".ogg", ".mp3", ".m4a"),
        *(".npy", ".npz"),
    }
)
MIN_IMAGE_SIDE = 16  # an array with two dimensions this large (and a channel axis or none) is an image
HEADER_BYTES = 4096


# ---- snapshots -------------------------------------------------------------------------------


def snapshot(*roots: str | Path) -> Snapshot:
    """Every regular file under ``roots`` (recursively, symlinks not followed): path → (size, mtime).

    A root that does not exist lists nothing; files that vanish while listing are skipped.
    """
    files: Snapshot = {}
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    files[os.path.abspath(path)] = (st.st_size, st.st_mtime_ns)
    return files


def new_files(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths of ``after`` absent from ``before`` or with another size or mtime, sorted (a file
    rewritten with its size within the file system's mtime resolution is not seen)."""
    return sorted(path for path, entry in after.items() if before.get(path) != entry)


def new_media_files(before: Snapshot, after: Snapshot) -> dict[str, str]:
    """The new or changed files between two snapshots that hold media: path → :func:`media_kind`."""
    found = {path: media_kind(path) for path in new_files(before, after)}
    return {path: kind for path, kind in found.items() if kind is not None}


# ---- media by their bytes --------------------------------------------------------------------


def media_kind(path: str | Path) -> str | None:
    """What ``path`` holds by its first bytes: ``png``, ``jpeg``, ``gif``, ``bmp``, ``tiff``,
    ``webp``, ``pnm``, ``mp4`` (any ISO-BMFF: MP4, MOV, 3GP, HEIC, AVIF), ``avi``, ``matroska``
    (MKV, WebM), ``mpeg``, ``flv``, ``y4m``, ``wav``, ``flac``, ``ogg``, ``mp3``, ``npy`` / ``npz``
    (an image-shaped array, :func:`image_shaped`), else None (text, JSON, CSV, a small array, an
    unreadable file)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except OSError:
        return None
    kind = _kind_of_bytes(head, os.path.getsize(path))
    if kind == "npy":
        return "npy" if image_shaped(_npy_shape(head)) else None
    if kind == "zip":
        return "npz" if _npz_holds_image(path) else None
    return kind


def _kind_of_bytes(head: bytes, size: int) -> str | None:
    signatures = (
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff", "jpeg"),
        (b"GIF87a", "gif"),
        (b"GIF89a", "gif"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"\x1a\x45\xdf\xa3", "matroska"),
        (b"\x00\x00\x01\xba", "mpeg"),
        (b"\x00\x00\x01\xb3", "mpeg"),
        (b"FLV\x01", "flv"),
        (b"YUV4MPEG2", "y4m"),
        (b"fLaC", "flac"),
        (b"OggS", "ogg"),
        (b"ID3", "mp3"),
        (b"\x93NUMPY", "npy"),
        (b"PK\x03\x04", "zip"),
    )
    for magic, kind in signatures:
        if head.startswith(magic):
            return kind
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI ", b"WAVE"):
        return {b"WEBP": "webp", b"AVI ": "avi", b"WAVE": "wav"}[head[8:12]]
    if head[:2] == b"BM" and len(head) >= 6 and int.from_bytes(head[2:6], "little") == size:
        return "bmp"
    if re.match(rb"P[1-6]\s+\d+\s+\d+", head[:32]):
        return "pnm"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "mpeg"  # an MPEG transport stream: a sync byte every 188 bytes
    return None


def image_shaped(shape: tuple[int, ...] | None) -> bool:
    """Whether an array of ``shape`` can hold images: two spatial dimensions of at least
    :data:`MIN_IMAGE_SIDE`, last (``(..., H, W)``), or before or after a channel axis of 1, 3 or
    4 (``(..., H, W, C)``, ``(..., C, H, W)``)."""
    if not shape or len(shape) < 2:
        return False
    candidates = [shape[-2:]]
    if len(shape) >= 3 and shape[-1] in (1, 3, 4):
        candidates.append(shape[-3:-1])
    return any(min(spatial) >= MIN_IMAGE_SIDE for spatial in candidates)


def _npy_shape(head: bytes) -> tuple[int, ...] | None:
    """The shape in an ``.npy`` header (format 1, 2 or 3), or None if it cannot be read."""
    try:
        major = head[6]
        if major == 1:
            length, start = int.from_bytes(head[8:10], "little"), 10
        else:
            length, start = int.from_bytes(head[8:12], "little"), 12
        header = ast.literal_eval(head[start : start + length].decode("latin1"))
        return tuple(int(n) for n in header["shape"])
    except (IndexError, ValueError, SyntaxError, KeyError, TypeError):
        return None


def _npz_holds_image(path: str | Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    with archive.open(info) as member:
                        if image_shaped(_npy_shape(member.read(HEADER_BYTES))):
                            return True
    except (OSError, zipfile.BadZipFile):
        return False
    return False


# ---- writes seen by Python's audit hook ------------------------------------------------------

_spies: list[WriteSpy] = []
_lock = threading.Lock()
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _audit(event: str, args: tuple) -> None:
    if not _spies:
        return
    try:
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            paths = [path] if writing else []
        elif event in ("os.rename", "shutil.copyfile", "shutil.copymode", "os.link", "os.symlink"):
            paths = [args[1]]
        else:
            return
        for path in paths:
            if isinstance(path, str | bytes | os.PathLike):
                path = os.path.abspath(os.fsdecode(path))
                for spy in list(_spies):
                    spy.paths.add(path)
    except Exception:  # an audit hook must never make the audited call fail
        pass


_hooked = False


class WriteSpy:
    """Within the block, every path opened for writing (``open``, ``os.open`` with a write flag),
    renamed or copied onto, by any thread of the process; see the module docstring for what it
    cannot see. The audit hook is installed once per process and does nothing outside a block.

    Attributes:
        paths: absolute paths written, in no order.
    """

    def __init__(self) -> None:
        self.paths: set[str] = set()

    def __enter__(self) -> WriteSpy:
        global _hooked
        with _lock:
            if not _hooked:
                sys.addaudithook(_audit)
                _hooked = True
            _spies.append(self)
        return self

    def __exit__(self, *exc) -> None:
        with _lock:
            _spies.remove(self)

    def outside(self, *allowed: str | Path) -> list[str]:
        """Written paths under none of the ``allowed`` folders (or equal to an allowed file)."""
        roots = [os.path.abspath(a) for a in allowed]
        return sorted(p for p in self.paths if not any(p == r or p.startswith(r + os.sep) for r in roots))

    def media_writes(self, paths: Iterable[str] | None = None) -> dict[str, str]:
        """Written paths that hold media (:func:`media_kind`) or, gone since, had a media suffix:
        path → kind (``"gone, .png"`` for a file no longer there)."""
        found = {}
        for path in sorted(self.paths if paths is None else paths):
            if os.path.isfile(path):
                kind = media_kind(path)
            else:
                suffix = Path(path).suffix.lower()
                kind = f"gone, {suffix}" if suffix in MEDIA_SUFFIXES else None
            if kind is not None:
                found[path] = kind
        return found


def use_tmpdir(monkeypatch, folder: Path) -> Path:
    """Point ``TMPDIR`` and :mod:`tempfile` at ``folder`` (created) for the test: every temporary
    file a library makes through :mod:`tempfile` lands there, where a snapshot sees it."""
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches the folder it found first
    assert tempfile.gettempdir() == str(folder)
    return folder


# ---- public outputs --------------------------------------------------------------------------

# Mappings keyed by data, not by schema: their keys are the model's class names.
CLASS_KEYED = frozenset({"probs"})
CLASS = "<class>"

# Key tokens that name a person-level quantity (see :func:`per_person_keys`).
PERSON_TOKENS = frozenset({"sr", "id", "ids", "pid", "uid", "roi", "kpt", "kpts", "pose", "mask", "masks"})
PERSON_PREFIXES = (
    "box",
    "bbox",
    "face",
    "person",
    "people",
    "individual",
    "member",
    "subject",
    "keypoint",
    "landmark",
    "joint",
    "limb",
    "skeleton",
    "track",
    "identit",
    "embed",
    "latent",
    "heatmap",
    "crop",
    "feature",
    "token",
    "structur",
    "recon",
    "pixel",
)


def key_paths(value, prefix: str = "") -> set[str]:
    """Every key path of a JSON value: ``a``, ``a.b``, ``a[]`` for a list's items, ``a[].b``; the
    keys of a class-keyed mapping (``probs``) become ``<class>``, which :func:`class_keys` lists."""
    paths: set[str] = set()
    if isinstance(value, Mapping):
        keyed_by_class = prefix.rsplit(".", 1)[-1] in CLASS_KEYED
        for key, item in value.items():
            path = f"{prefix}.{CLASS if keyed_by_class else key}" if prefix else str(key)
            paths.add(path)
            paths |= key_paths(item, path)
    elif isinstance(value, list | tuple):
        path = f"{prefix}[]"
        if value:
            paths.add(path)
        for item in value:
            paths |= key_paths(item, path)
    return paths


def class_keys(value) -> list[list[str]]:
    """The key lists of every class-keyed mapping (``probs``) in a JSON value, in order."""
    found = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in CLASS_KEYED and isinstance(item, Mapping):
                found.append(list(item))
            else:
                found += class_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found += class_keys(item)
    return found


def per_person_keys(paths: Iterable[str]) -> list[str]:
    """The key paths one of whose keys names a person-level quantity: a box, a face, a person, a
    keypoint or landmark, a track or identity, an embedding, a latent, an SR, a heatmap, a crop.
    Keys are split into lowercase tokens (``pred_face`` → ``pred``, ``face``; ``bboxList`` →
    ``bbox``, ``list``); a token that is one of :data:`PERSON_TOKENS` or starts with one of
    :data:`PERSON_PREFIXES` counts."""
    flagged = []
    for path in paths:
        keys = [k for k in re.split(r"\.|\[\]", path) if k and k != CLASS]
        tokens = [t.lower() for k in keys for t in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", k)]
        if any(t in PERSON_TOKENS or t.startswith(PERSON_PREFIXES) for t in tokens):
            flagged.append(path)
    return sorted(flagged)


# ---- model files -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFiles:
    """A trained model's files: ``training`` holds every weight, ``model`` is the export."""

    training: Path
    model: Path


def model_files(folder: Path, *overrides: str) -> ModelFiles:
    """A tiny model (random weights, 64×64 input, classes a, b, c; ``overrides`` of the tiny
    recipe) written as ``vemd fit`` leaves a run: a training file holding every weight,
    structural decoders included, exported by :func:`~vemd.models.checkpoint.save_model` into
    the ``model.pt`` users load."""
    from tests.models.helpers import tiny_model, write_model_file

    from vemd.config import to_dict
    from vemd.models.checkpoint import save_model

    cfg, model = tiny_model(*overrides)
    folder.mkdir(parents=True, exist_ok=True)
    training = folder / "training.pt"
    write_model_file(training, to_dict(cfg), model.state_dict())
    return ModelFiles(training, save_model(training, folder / "model.pt"))
