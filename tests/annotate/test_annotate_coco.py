"""COCO-WholeBody export and import."""

from __future__ import annotations

import json

import numpy as np

from vemd.annotate.coco import coco_to_frames, export_coco, import_coco, store_to_coco
from vemd.structure.annotations import AnnotationStore, FrameAnnotation, Person


def _points(num: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.uniform(0, 100, (num, 2)).round(2), np.full((num, 1), 2.0)], axis=1)
    points[rng.random(num) < 0.3] = 0.0
    return points.astype(np.float32)


def test_round_trip_keeps_every_frame_and_person(tmp_path):
    store = AnnotationStore(tmp_path / "a", create=True)
    store.add("clip.mp4/3", FrameAnnotation(120, 90, [Person(body=_points(17, 0), face=_points(68, 1))]))
    store.add(
        "clip.mp4/7", FrameAnnotation(120, 90, [Person(body=_points(17, 2)), Person(face=_points(68, 3))])
    )
    store.add("photo.jpg/0", FrameAnnotation(64, 48, []))
    store.flush()
    export_coco(store, tmp_path / "wb.json")
    copy = AnnotationStore(tmp_path / "b", create=True)
    assert import_coco(tmp_path / "wb.json", copy) == (3, 0)
    assert sorted(copy.keys()) == sorted(store.keys())
    for key, a in store.items():
        b = copy[key]
        assert (a.width, a.height, len(a.persons)) == (b.width, b.height, len(b.persons))
        for pa, pb in zip(a.persons, b.persons):
            for part in ("body", "face"):
                if getattr(pa, part) is None:
                    assert getattr(pb, part) is None
                else:
                    np.testing.assert_allclose(getattr(pa, part), getattr(pb, part), atol=0.01)
    assert import_coco(tmp_path / "wb.json", copy) == (0, 3)


def test_export_follows_coco_wholebody_fields(tmp_path):
    store = AnnotationStore(tmp_path / "a", create=True)
    store.add("x/0", FrameAnnotation(50, 40, [Person(body=_points(17, 0)), Person(face=_points(68, 1))]))
    data = store_to_coco(store)
    assert data["images"] == [{"id": 1, "file_name": "x/0", "width": 50, "height": 40}]
    body, face = data["annotations"]
    assert len(body["keypoints"]) == 51 and len(body["face_kpts"]) == 204 and body["category_id"] == 1
    assert set(body["keypoints"][2::3]) <= {0.0, 2.0}
    assert body["num_keypoints"] == int((np.array(body["keypoints"][2::3]) == 2).sum())
    assert not body["face_valid"] and face["face_valid"] and face["num_keypoints"] == 0
    x, y, w, h = face["face_box"]
    seen = _points(68, 1)[_points(68, 1)[:, 2] > 0]
    assert np.isclose(x, seen[:, 0].min(), atol=0.01) and np.isclose(x + w, seen[:, 0].max(), atol=0.01)
    json.dumps(data)


def test_foreign_file_names_become_still_image_keys():
    data = {
        "images": [{"id": 7, "file_name": "000123.jpg", "width": 10, "height": 10}],
        "annotations": [
            {"image_id": 7, "category_id": 1, "keypoints": [1.0, 2.0, 1] * 17, "face_valid": False}
        ],
    }
    [(key, frame)] = coco_to_frames(data)
    assert key == "000123.jpg/0" and frame.num_bodies == 1 and frame.num_faces == 0
