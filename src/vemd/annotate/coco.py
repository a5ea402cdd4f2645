"""COCO-WholeBody JSON export and import, so vemd's stores and other tools' annotations meet.

Export writes one image entry per stored frame and one annotation per person: ``keypoints``
(17×3 flat), ``face_kpts`` (68×3 flat), ``bbox`` and ``face_box`` (x, y, w, h),
``face_valid`` and ``num_keypoints``; visibility 2 for a seen point, 0 (with x = y = 0) for
an absent one; hands and feet empty. An image's ``file_name`` is an image path relative to
the dataset root (or the INPUT folder):

* a still image: its own path (``train/Positive/0001.jpg``);
* a frame of a frame folder: that frame's file (``Clip/jpg_256/00001/00005.jpg``);
* a frame of a video: ``<video path without suffix>/<frame index:06d>.jpg``
  (``Train/10_1/000020.jpg``), the file a tool extracting that frame would write.

Every image entry also records ``vemd_key`` (the store key), ``vemd_source`` (the media
path) and ``vemd_frame_index``. A key whose media is unknown (a store exported without its
dataset) gets ``file_name`` = its clip id for a still image whose clip id is a file name,
else ``<clip_id>/<frame index:06d>.jpg``.

Import maps each image entry to a key, first rule that applies:

1. ``vemd_key``, when present (a file vemd wrote);
2. with a dataset (its records, or the files of an INPUT folder): ``vemd_source`` and
   ``vemd_frame_index`` naming a record's media; else ``file_name`` as a path relative to the
   dataset root: a still image record's path gives ``<clip_id>/0``, a frame file of a frame
   folder ``<clip_id>/<position in the sorted folder>``, a video frame name as exported
   ``<clip_id>/<frame index>``. A ``file_name`` that is not such a path (``000001.jpg``
   from a tool run inside a class folder, or an absolute path) matches the one record path
   that ends with it or that it ends with; one that matches no record, or several, is left
   out and counted as unmatched;
3. without a dataset: ``file_name`` is read as a key when it is one (``<clip_id>/<index>``),
   else it becomes ``<file_name>/0``, the key ``vemd annotate FOLDER`` gives that image.

Import reads what other tools write: ``face_kpts``, ``face_valid``, hands, feet and any
extra fields may be missing; a face counts when ``face_valid`` is true or, without that
field, when a face point is seen; visibility 1 (labelled, occluded) counts as seen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vemd.annotate.sources import MediaItem
from vemd.data.manifest import annotation_key
from vemd.data.media import folder_frames, is_image, is_video
from vemd.errors import DataError
from vemd.io import atomic_write_text
from vemd.structure.annotations import AnnotationStore, FrameAnnotation, Person
from vemd.structure.skeleton import BODY_LIMBS, COCO17_JOINTS, NUM_BODY_JOINTS, NUM_FACE_JOINTS

PERSON_CATEGORY = {
    "id": 1,
    "name": "person",
    "supercategory": "person",
    "keypoints": list(COCO17_JOINTS),
    "skeleton": [[a + 1, b + 1] for a, b in BODY_LIMBS],
}
EMPTY_PARTS = {"lefthand": 21, "righthand": 21}
_KEY = re.compile(r".+/\d+$")
_VIDEO_FRAME = re.compile(r"(.+)/(\d+)\.jpg$")


def _flat(points: np.ndarray | None, num: int) -> list[float]:
    if points is None:
        return [0.0] * (3 * num)
    points = np.where(points[:, 2:3] > 0, np.concatenate([points[:, :2], np.full((num, 1), 2.0)], 1), 0.0)
    return [round(float(v), 2) for v in points.reshape(-1)]


def _xywh(*parts: np.ndarray | None) -> list[float]:
    seen = [p[p[:, 2] > 0, :2] for p in parts if p is not None]
    seen = np.concatenate(seen) if seen else np.zeros((0, 2))
    if not len(seen):
        return [0.0, 0.0, 0.0, 0.0]
    lo, hi = seen.min(axis=0), seen.max(axis=0)
    return [round(float(v), 2) for v in (*lo, *(hi - lo))]


def person_to_coco(person: Person, image_id: int, ann_id: int) -> dict:
    """One COCO-WholeBody annotation dict of a person."""
    bbox = _xywh(person.body, person.face)
    record = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": bbox,
        "area": round(bbox[2] * bbox[3], 2),
        "keypoints": _flat(person.body, NUM_BODY_JOINTS),
        "num_keypoints": 0 if person.body is None else int((person.body[:, 2] > 0).sum()),
        "face_kpts": _flat(person.face, NUM_FACE_JOINTS),
        "face_box": _xywh(person.face),
        "face_valid": person.face is not None,
        "foot_kpts": [0.0] * 18,
        "foot_valid": False,
    }
    for part, num in EMPTY_PARTS.items():
        record |= {f"{part}_kpts": [0.0] * (3 * num), f"{part}_box": [0.0] * 4, f"{part}_valid": False}
    return record


def _norm(name: str) -> str:
    return str(name).strip().replace("\\", "/").removeprefix("./")


def _frame_file(stem: str, index: int) -> str:
    """The image name of frame ``index`` of a video (``stem``: its path without suffix)."""
    return f"{stem}/{index:06d}.jpg"


def _stem(name: str) -> str:
    path = Path(name)
    return path.with_suffix("").as_posix() if is_video(path) else path.as_posix()


class _Paths:
    """Paths relative to a dataset root → values, also found by a path that ends with one of
    them or that one of them ends with, when exactly one does."""

    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        self.by_base: dict[str, list[str]] = {}

    def add(self, path: str, value: str) -> None:
        self.exact[path] = value
        self.by_base.setdefault(path.rpartition("/")[2], []).append(path)

    def find(self, name: str) -> str | None:
        if name in self.exact:
            return self.exact[name]
        candidates = self.by_base.get(name.rpartition("/")[2], ())
        found = {self.exact[p] for p in candidates if p.endswith("/" + name) or name.endswith("/" + p)}
        return found.pop() if len(found) == 1 else None


class MediaNames:
    """The media of a dataset (its records as :class:`MediaItem`) and the image names of their
    frames, relative to the dataset root, in both directions (module docstring)."""

    def __init__(self, items: list[MediaItem]) -> None:
        self.by_clip = {item.clip_id: item for item in items}
        self.by_source = {_norm(item.name): item for item in items}
        self.kinds = {
            item.clip_id: "image" if is_image(item.path) else "folder" if item.path.is_dir() else "video"
            for item in items
        }
        self._frames: dict[str, list[Path]] = {}
        self._images: _Paths | None = None
        self._videos: _Paths | None = None

    def frame_files(self, item: MediaItem) -> list[Path]:
        if item.clip_id not in self._frames:
            self._frames[item.clip_id] = folder_frames(item.path)
        return self._frames[item.clip_id]

    def image_entry(self, key: str) -> dict:
        """``file_name`` and the ``vemd_*`` fields of the image entry of ``key``."""
        clip_id, _, number = key.rpartition("/")
        index, item = int(number), self.by_clip.get(clip_id)
        entry = {"file_name": "", "vemd_key": key, "vemd_frame_index": index}
        if item is None:  # media unknown
            still = index == 0 and is_image(Path(clip_id))
            entry["file_name"] = clip_id if still else _frame_file(_stem(clip_id), index)
            return entry
        entry["vemd_source"] = item.name
        kind = self.kinds[clip_id]
        files = self.frame_files(item) if kind == "folder" else []
        if kind == "image":
            entry["file_name"] = item.name
        elif index < len(files):
            entry["file_name"] = f"{item.name}/{files[index].name}"
        else:
            entry["file_name"] = _frame_file(_stem(item.name), index)
        return entry

    def key_of(self, image: dict) -> str | None:
        """The key an image entry stands for (rule 2 of the module docstring), or None."""
        source, index = image.get("vemd_source"), image.get("vemd_frame_index")
        if source is not None and index is not None and _norm(source) in self.by_source:
            return annotation_key(self.by_source[_norm(source)].clip_id, int(index))
        name = _norm(image["file_name"])
        key = self._still_images().find(name)
        match = _VIDEO_FRAME.match(name)
        if key is None and match is not None:
            clip_id = self._video_stems().find(match.group(1))
            key = None if clip_id is None else annotation_key(clip_id, int(match.group(2)))
        return key

    def _still_images(self) -> _Paths:
        """Still images and frame-folder files → their keys (listed on first use)."""
        if self._images is None:
            self._images = _Paths()
            for clip_id, item in self.by_clip.items():
                name = _norm(item.name)
                if self.kinds[clip_id] == "image":
                    self._images.add(name, annotation_key(clip_id, 0))
                elif self.kinds[clip_id] == "folder":
                    for i, path in enumerate(self.frame_files(item)):
                        self._images.add(f"{name}/{path.name}", annotation_key(clip_id, i))
        return self._images

    def _video_stems(self) -> _Paths:
        """Video paths without suffix → clip ids."""
        if self._videos is None:
            self._videos = _Paths()
            for clip_id, item in self.by_clip.items():
                if self.kinds[clip_id] == "video":
                    self._videos.add(_stem(_norm(item.name)), clip_id)
        return self._videos


def store_to_coco(store: AnnotationStore, items: list[MediaItem] | None = None) -> dict:
    """The whole store as a COCO-WholeBody dict; ``items`` (the dataset's media) give each
    frame its image path (module docstring). Frames without persons are kept as images."""
    names = MediaNames(list(items or []))
    images, annotations = [], []
    for image_id, (key, frame) in enumerate(store.items(), start=1):
        entry = names.image_entry(key)
        file_name = entry.pop("file_name")
        images.append(
            {"id": image_id, "file_name": file_name, "width": frame.width, "height": frame.height, **entry}
        )
        for person in frame.persons:
            annotations.append(person_to_coco(person, image_id, len(annotations) + 1))
    return {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]}


def export_coco(store: AnnotationStore, path: str | Path, items: list[MediaItem] | None = None) -> None:
    """Write the store as COCO-WholeBody JSON (atomically)."""
    atomic_write_text(path, json.dumps(store_to_coco(store, items)))


def _points(values, num: int, what: str) -> np.ndarray | None:
    """(num, 3) points of a flat list, None when no point is seen; ValueError on a bad length."""
    if not values:
        return None
    points = np.asarray(values, np.float32)
    if points.shape != (3 * num,):
        raise ValueError(f"{what} holds {points.size} values, expected {3 * num}")
    points = points.reshape(num, 3)
    points[points[:, 2] <= 0] = 0.0
    return points if np.any(points[:, 2] > 0) else None


def _person(ann: dict) -> Person | None:
    where = f"annotation {ann.get('id', '?')}"
    body = _points(ann.get("keypoints"), NUM_BODY_JOINTS, f"{where}: keypoints")
    face = None
    if ann.get("face_valid", True):
        face = _points(ann.get("face_kpts"), NUM_FACE_JOINTS, f"{where}: face_kpts")
    return Person(body=body, face=face) if body is not None or face is not None else None


def _plain_key(image: dict) -> str:
    """Rule 3 of the module docstring: the key of an image entry when no dataset is given."""
    name = _norm(image["file_name"])
    return name if _KEY.match(name) and not is_image(Path(name)) else annotation_key(name, 0)


@dataclass
class ImportReport:
    """What an import did: frames added, frames already in the store, image entries that
    named no record of the dataset (their file names)."""

    added: int = 0
    already_stored: int = 0
    unmatched: list[str] = field(default_factory=list)


def coco_to_frames(
    data: dict, source: str = "COCO file", items: list[MediaItem] | None = None
) -> tuple[list[tuple[str, FrameAnnotation]], list[str]]:
    """(key, frame) records of a COCO(-WholeBody) dict and the file names that matched no
    record of ``items`` (module docstring); DataError naming ``source`` when malformed."""
    names = MediaNames(items) if items else None
    try:
        person_ids = {c["id"] for c in data.get("categories", []) if c.get("name") == "person"} or {1}
        frames: dict[int, tuple[str, FrameAnnotation]] = {}
        unmatched = []
        for image in data["images"]:
            key = image.get("vemd_key") or (names.key_of(image) if names else _plain_key(image))
            if key is None:
                unmatched.append(str(image["file_name"]))
                continue
            frames[image["id"]] = (key, FrameAnnotation(int(image["width"]), int(image["height"])))
        for ann in data["annotations"]:
            if ann.get("category_id", 1) not in person_ids or ann["image_id"] not in frames:
                continue
            person = _person(ann)
            if person is not None:
                frames[ann["image_id"]][1].persons.append(person)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DataError(
            f"{source}: not a COCO-WholeBody annotation file ({type(err).__name__}: {err})"
        ) from err
    return list(frames.values()), unmatched


def import_coco(
    path: str | Path, store: AnnotationStore, items: list[MediaItem] | None = None
) -> ImportReport:
    """Add the frames of a COCO-WholeBody JSON file to ``store``, keyed through ``items``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable JSON ({err})") from err
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a COCO-WholeBody annotation file (no top-level object)")
    records, unmatched = coco_to_frames(data, str(path), items)
    report = ImportReport(unmatched=unmatched)
    for key, frame in records:
        if key in store:
            report.already_stored += 1
        else:
            store.add(key, frame)
            report.added += 1
    store.flush()
    return report
