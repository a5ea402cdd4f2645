"""Per-frame structural annotations and their versioned on-disk store.

A frame record holds the image size and, per person, optional COCO-17 body
keypoints and optional 68-point face landmarks, as (x, y, visibility) in pixels of
the original frame. Geometry only: no crops, identities or embeddings.

On disk, an annotation store is a folder::

    store/
      meta.json            {"format": "vemd-annotations", "version": 1, ...}
      shard-000000.npz     a batch of frames, written atomically
      shard-000001.npz     appended later (resumed runs add shards)

Each shard holds flat arrays: ``keys`` (F,), ``sizes`` (F, 2) as (width, height),
``offsets`` (F + 1,) into the person arrays, ``body`` (P, 17, 3), ``face`` (P, 68, 3),
``has_body`` (P,), ``has_face`` (P,). Shards are small, independent and written by
rename, so a killed writer never leaves a half file, and a reader gets random access
through an in-memory key index.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vemd.errors import AnnotationFormatError
from vemd.io import atomic_write, atomic_write_text
from vemd.structure.skeleton import NUM_BODY_JOINTS, NUM_FACE_JOINTS

FORMAT_NAME = "vemd-annotations"
FORMAT_VERSION = 1
_SHARD_KEYS = ("keys", "sizes", "offsets", "body", "face", "has_body", "has_face")


@dataclass
class Person:
    """One person's geometry. Arrays are (17, 3) body and (68, 3) face, or None."""

    body: np.ndarray | None = None
    face: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.body is not None:
            self.body = _checked(self.body, NUM_BODY_JOINTS, "body")
        if self.face is not None:
            self.face = _checked(self.face, NUM_FACE_JOINTS, "face")


def _checked(points: np.ndarray, num: int, what: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float32)
    if points.shape != (num, 3):
        raise ValueError(f"{what} keypoints must have shape ({num}, 3), got {points.shape}")
    return points


@dataclass
class FrameAnnotation:
    """All persons in one frame; (width, height) of the original frame in pixels."""

    width: int
    height: int
    persons: list[Person] = field(default_factory=list)

    @property
    def num_bodies(self) -> int:
        return sum(p.body is not None for p in self.persons)

    @property
    def num_faces(self) -> int:
        return sum(p.face is not None for p in self.persons)

    def stacked(self, part: str) -> np.ndarray:
        """(N, J, 3) keypoints of the persons that have ``part`` (``body``/``face``)."""
        num = NUM_BODY_JOINTS if part == "body" else NUM_FACE_JOINTS
        arrays = [getattr(p, part) for p in self.persons if getattr(p, part) is not None]
        if not arrays:
            return np.zeros((0, num, 3), dtype=np.float32)
        return np.stack(arrays).astype(np.float32)


def _encode_shard(records: list[tuple[str, FrameAnnotation]]) -> dict[str, np.ndarray]:
    keys, sizes, offsets = [], [], [0]
    body, face, has_body, has_face = [], [], [], []
    empty_body = np.zeros((NUM_BODY_JOINTS, 3), np.float32)
    empty_face = np.zeros((NUM_FACE_JOINTS, 3), np.float32)
    for key, frame in records:
        keys.append(key)
        sizes.append((frame.width, frame.height))
        for person in frame.persons:
            body.append(empty_body if person.body is None else person.body)
            face.append(empty_face if person.face is None else person.face)
            has_body.append(person.body is not None)
            has_face.append(person.face is not None)
        offsets.append(len(body))
    return {
        "keys": np.asarray(keys, dtype=np.str_),
        "sizes": np.asarray(sizes, dtype=np.int32).reshape(-1, 2),
        "offsets": np.asarray(offsets, dtype=np.int64),
        "body": np.asarray(body, dtype=np.float32).reshape(-1, NUM_BODY_JOINTS, 3),
        "face": np.asarray(face, dtype=np.float32).reshape(-1, NUM_FACE_JOINTS, 3),
        "has_body": np.asarray(has_body, dtype=bool),
        "has_face": np.asarray(has_face, dtype=bool),
    }


class _Shard:
    """Arrays of one shard file, validated once when first read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in _SHARD_KEYS}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
            raise AnnotationFormatError(f"{path}: corrupt or foreign annotation shard ({err})") from err
        self.__dict__.update(arrays)
        num_frames, num_persons = len(self.keys), len(self.body)
        ok = (
            self.sizes.shape == (num_frames, 2)
            and self.offsets.shape == (num_frames + 1,)
            and self.offsets[0] == 0
            and self.offsets[-1] == num_persons
            and bool(np.all(np.diff(self.offsets) >= 0))
            and self.body.shape == (num_persons, NUM_BODY_JOINTS, 3)
            and self.face.shape == (num_persons, NUM_FACE_JOINTS, 3)
            and self.has_body.shape == (num_persons,)
            and self.has_face.shape == (num_persons,)
        )
        if not ok:
            raise AnnotationFormatError(f"{path}: annotation shard has inconsistent array shapes")
        self._check_values()

    def _check_values(self) -> None:
        """Frame sizes of at least 1×1 and finite keypoints: training divides by the one and
        draws the other (a 0 size was a ZeroDivisionError in ``vemd fit``)."""
        small = np.flatnonzero((self.sizes < 1).any(axis=1))
        if len(small):
            width, height = self.sizes[small[0]]
            raise AnnotationFormatError(
                f"{self.path}: frame {str(self.keys[small[0]])!r} has size {width}×{height}; "
                "a frame is at least 1×1 pixels"
            )
        for part, has in (("body", self.has_body), ("face", self.has_face)):
            points = getattr(self, part)
            bad = np.flatnonzero(has & ~np.isfinite(points).all(axis=(1, 2)))
            if len(bad):
                row = int(np.searchsorted(self.offsets, bad[0], side="right")) - 1  # the frame of that person
                raise AnnotationFormatError(
                    f"{self.path}: frame {str(self.keys[row])!r}: {part} keypoints hold NaN or "
                    "infinite values"
                )

    def frame(self, row: int) -> FrameAnnotation:
        lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
        persons = [
            Person(
                body=self.body[i] if self.has_body[i] else None,
                face=self.face[i] if self.has_face[i] else None,
            )
            for i in range(lo, hi)
        ]
        width, height = (int(v) for v in self.sizes[row])
        return FrameAnnotation(width, height, persons)


class AnnotationStore:
    """Random-access reader and appending writer of an annotation folder.

    ``store.add(key, frame)`` buffers records; ``store.flush()`` (also called every
    ``shard_size`` records and on ``close``) writes them as a new shard. Keys are unique:
    adding a key already stored raises, and ``key in store`` lets a resumed job skip work.
    """

    def __init__(self, root: str | Path, *, create: bool = False, shard_size: int = 2048) -> None:
        self.root = Path(root)
        self.shard_size = shard_size
        self._pending: dict[str, FrameAnnotation] = {}
        self._index: dict[str, tuple[int, int]] = {}
        self._shards: dict[int, _Shard] = {}
        meta_path = self.root / "meta.json"
        if not meta_path.exists():
            if not create:
                raise AnnotationFormatError(f"{self.root}: not an annotation store (no meta.json)")
            meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
            atomic_write_text(meta_path, json.dumps(meta, indent=2))
        self._read_meta(meta_path)
        self._shard_paths = sorted(self.root.glob("shard-*.npz"))
        for number, path in enumerate(self._shard_paths):
            shard = self._load(number)
            for row, key in enumerate(shard.keys.tolist()):
                if key in self._index:
                    raise AnnotationFormatError(f"{path}: duplicate frame key {key!r}")
                self._index[key] = (number, row)

    def _read_meta(self, meta_path: Path) -> None:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise AnnotationFormatError(f"{meta_path}: unreadable annotation metadata ({err})") from err
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise AnnotationFormatError(f"{meta_path}: not a vemd annotation store")
        if meta.get("version") != FORMAT_VERSION:
            raise AnnotationFormatError(
                f"{meta_path}: annotation format version {meta.get('version')!r} "
                f"is not supported (this vemd reads version {FORMAT_VERSION})"
            )

    def _load(self, number: int) -> _Shard:
        if number not in self._shards:
            self._shards[number] = _Shard(self._shard_paths[number])
        return self._shards[number]

    def __len__(self) -> int:
        return len(self._index) + len(self._pending)

    def __contains__(self, key: str) -> bool:
        return key in self._index or key in self._pending

    def keys(self) -> list[str]:
        return list(self._index) + list(self._pending)

    def __getitem__(self, key: str) -> FrameAnnotation:
        if key in self._index:
            number, row = self._index[key]
            return self._load(number).frame(row)
        return self._pending[key]

    def get(self, key: str) -> FrameAnnotation | None:
        try:
            return self[key]
        except KeyError:
            return None

    def items(self) -> Iterator[tuple[str, FrameAnnotation]]:
        for key in self.keys():
            yield key, self[key]

    def add(self, key: str, frame: FrameAnnotation) -> None:
        if key in self:
            raise KeyError(f"{self.root}: frame key {key!r} is already stored")
        self._pending[key] = frame
        if len(self._pending) >= self.shard_size:
            self.flush()

    def extend(self, records: Iterable[tuple[str, FrameAnnotation]]) -> None:
        for key, frame in records:
            self.add(key, frame)

    def flush(self) -> None:
        """Write buffered records as one new shard (atomically). A shard of that name that
        another writer added since the store was opened is never replaced: that is an error."""
        if not self._pending:
            return
        number = len(self._shard_paths)
        path = self.root / f"shard-{number:06d}.npz"
        arrays = _encode_shard(list(self._pending.items()))
        try:
            atomic_write(path, lambda h: np.savez(h, **arrays), replace=False)
        except FileExistsError:
            raise AnnotationFormatError(
                f"{path}: written by another process since this store was opened, so "
                f"{len(self._pending)} frames were not stored; write a store from one run at a time"
            ) from None
        self._shard_paths.append(path)
        for row, key in enumerate(self._pending):
            self._index[key] = (number, row)
        self._pending = {}

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        # DataLoader workers get the index and re-open shards lazily.
        state = self.__dict__.copy()
        state["_shards"] = {}
        return state
