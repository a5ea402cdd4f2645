"""COCO-WholeBody JSON export and import, so other tools' annotations can train vemd.

An image's ``file_name`` is the annotation key (``<clip_id>/<frame_index>``); one
annotation per person with ``keypoints`` (17×3 flat), ``face_kpts`` (68×3 flat),
``bbox`` and ``face_box`` (x, y, w, h), ``face_valid`` and ``num_keypoints``; visibility 2
for a seen point, 0 (with x = y = 0) for an absent one. Hands and feet are written empty.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from vemd.data.manifest import annotation_key
from vemd.errors import DataError
from vemd.structure.annotations import AnnotationStore, FrameAnnotation, Person, atomic_write_text
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


def store_to_coco(store: AnnotationStore) -> dict:
    """The whole store as a COCO-WholeBody dict (frames without persons are kept as images)."""
    images, annotations = [], []
    for image_id, (key, frame) in enumerate(store.items(), start=1):
        images.append({"id": image_id, "file_name": key, "width": frame.width, "height": frame.height})
        for person in frame.persons:
            annotations.append(person_to_coco(person, image_id, len(annotations) + 1))
    return {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]}


def export_coco(store: AnnotationStore, path: str | Path) -> None:
    """Write the store as COCO-WholeBody JSON (atomically)."""
    atomic_write_text(path, json.dumps(store_to_coco(store)))


def _points(values, num: int) -> np.ndarray:
    points = np.asarray(values, np.float32).reshape(num, 3)
    points[points[:, 2] <= 0] = 0.0
    return points


def coco_to_frames(data: dict, source: str = "COCO file") -> list[tuple[str, FrameAnnotation]]:
    """(key, frame) records of a COCO(-WholeBody) dict; a ``file_name`` that is not already a
    key ``<clip_id>/<frame_index>`` becomes ``<file_name>/0`` (a still image)."""
    try:
        frames: dict[int, tuple[str, FrameAnnotation]] = {}
        for image in data["images"]:
            name = str(image["file_name"])
            key = name if _KEY.match(name) else annotation_key(name, 0)
            frames[image["id"]] = (key, FrameAnnotation(int(image["width"]), int(image["height"])))
        for ann in data["annotations"]:
            if ann.get("category_id", 1) != 1:
                continue
            body = ann.get("keypoints")
            body = _points(body, NUM_BODY_JOINTS) if body and np.any(np.asarray(body)[2::3] > 0) else None
            face = _points(ann["face_kpts"], NUM_FACE_JOINTS) if ann.get("face_valid") else None
            if body is not None or face is not None:
                frames[ann["image_id"]][1].persons.append(Person(body=body, face=face))
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"{source}: not a COCO-WholeBody annotation file ({type(err).__name__}: {err})"
        ) from err
    return list(frames.values())


def import_coco(path: str | Path, store: AnnotationStore) -> tuple[int, int]:
    """Add the frames of a COCO-WholeBody JSON file to ``store``; (added, already stored)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: unreadable JSON ({err})") from err
    added = skipped = 0
    for key, frame in coco_to_frames(data, str(path)):
        if key in store:
            skipped += 1
        else:
            store.add(key, frame)
            added += 1
    store.flush()
    return added, skipped
