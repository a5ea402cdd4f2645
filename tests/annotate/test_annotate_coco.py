"""COCO-WholeBody export and import: real image paths out, other tools' files in."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.annotate.helpers import stub_backend
from tests.data.layouts import make_folder, make_gaf3

from vemd.annotate.coco import coco_to_frames, export_coco, import_coco, store_to_coco
from vemd.cli import main
from vemd.structure.annotations import AnnotationStore, FrameAnnotation, Person


def _points(num: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = np.concatenate([rng.uniform(0, 100, (num, 2)).round(2), np.full((num, 1), 2.0)], axis=1)
    points[rng.random(num) < 0.3] = 0.0
    return points.astype(np.float32)


def assert_same_store(a: AnnotationStore, b: AnnotationStore) -> None:
    assert sorted(a.keys()) == sorted(b.keys())
    for key, x in a.items():
        y = b[key]
        assert (x.width, x.height, len(x.persons)) == (y.width, y.height, len(y.persons))
        for px, py in zip(x.persons, y.persons):
            for part in ("body", "face"):
                if getattr(px, part) is None:
                    assert getattr(py, part) is None
                else:
                    np.testing.assert_allclose(getattr(px, part), getattr(py, part), atol=0.01)


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
    report = import_coco(tmp_path / "wb.json", copy)
    assert (report.added, report.already_stored, report.unmatched) == (3, 0, [])
    assert_same_store(store, copy)
    assert import_coco(tmp_path / "wb.json", copy).already_stored == 3


def test_export_follows_coco_wholebody_fields(tmp_path):
    store = AnnotationStore(tmp_path / "a", create=True)
    store.add("x/0", FrameAnnotation(50, 40, [Person(body=_points(17, 0)), Person(face=_points(68, 1))]))
    data = store_to_coco(store)
    [image] = data["images"]
    assert image == {
        "id": 1,
        "file_name": "x/000000.jpg",
        "width": 50,
        "height": 40,
        "vemd_key": "x/0",
        "vemd_frame_index": 0,
    }
    body, face = data["annotations"]
    assert len(body["keypoints"]) == 51 and len(body["face_kpts"]) == 204 and body["category_id"] == 1
    assert set(body["keypoints"][2::3]) <= {0.0, 2.0}
    assert body["num_keypoints"] == int((np.array(body["keypoints"][2::3]) == 2).sum())
    assert not body["face_valid"] and face["face_valid"] and face["num_keypoints"] == 0
    x, y, w, h = face["face_box"]
    seen = _points(68, 1)[_points(68, 1)[:, 2] > 0]
    assert np.isclose(x, seen[:, 0].min(), atol=0.01) and np.isclose(x + w, seen[:, 0].max(), atol=0.01)
    json.dumps(data)


def test_export_through_a_loader_names_real_images_and_video_frames(tmp_path):
    root = make_folder(tmp_path / "faces")  # train: 2 images, a video, a frame folder
    coco = tmp_path / "wb.json"
    with stub_backend() as backend:
        args = ["annotate", "folder", str(root), "--backend", backend, "--no-progress"]
        assert main([*args, "--export-coco", str(coco)]) == 0
    images = {image["vemd_key"]: image for image in json.loads(coco.read_text())["images"]}
    assert len(images) == len(AnnotationStore(root / "annotations"))
    assert images["train/happy/a/0"]["file_name"] == "train/happy/a.jpg"
    for key, image in images.items():
        clip_id, _, index = key.rpartition("/")
        assert image["vemd_frame_index"] == int(index)
        if clip_id == "train/sad/b":  # a video: a frame file name, the video as source
            assert image["file_name"] == f"train/sad/b/{int(index):06d}.jpg"
            assert image["vemd_source"] == "train/sad/b.mp4"
        else:  # an image or a frame of a frame folder: a file under the dataset root
            assert (root / image["file_name"]).is_file(), image
    frame_names = sorted(p.name for p in (root / "train" / "sad" / "c").iterdir())
    c = [image for key, image in images.items() if key.startswith("train/sad/c/")]
    assert len(c) == 5  # T = 5 distinct frames of 7
    assert {i["file_name"] for i in c} == {f"train/sad/c/{frame_names[i['vemd_frame_index']]}" for i in c}


@pytest.mark.parametrize("keep", ["all", "source", "file_name"])
def test_export_then_import_onto_the_dataset_gives_the_same_store(tmp_path, keep):
    """``keep``: the vemd_* fields a tool rewriting the file kept (file_name alone must do)."""
    root = make_folder(tmp_path / "faces")
    coco = tmp_path / "wb.json"
    with stub_backend() as backend:
        args = ["annotate", "folder", str(root), "--backend", backend, "--no-progress"]
        assert main([*args, "--export-coco", str(coco)]) == 0
    data = json.loads(coco.read_text())
    dropped = {
        "all": (),
        "source": ("vemd_key",),
        "file_name": ("vemd_key", "vemd_source", "vemd_frame_index"),
    }
    for image in data["images"]:
        for field in dropped[keep]:
            del image[field]
    coco.write_text(json.dumps(data))
    copy = tmp_path / "copy"
    assert main(["annotate", "folder", str(root), "--import-coco", str(coco), "--out", str(copy)]) == 0
    assert_same_store(AnnotationStore(root / "annotations"), AnnotationStore(copy))


def _flat(points: list[tuple[float, float, int]]) -> list[float]:
    return [float(v) for point in points for v in point]


def test_a_hand_written_wholebody_file_maps_onto_the_dataset(tmp_path, capsys):
    root = make_gaf3(tmp_path / "gaf3")  # train/<class>/00000k.jpg, train/<class>/more/0000kk.jpg
    body = _flat([(10 + k, 20 + k, 2 if k % 3 else 1) for k in range(17)])
    face = _flat([(30 + k / 4, 12, 2) for k in range(68)])
    wholebody = {
        "info": {"description": "written by hand, as another tool would"},
        "images": [
            {"id": 1, "file_name": "000001.jpg", "width": 64, "height": 64, "license": 3},
            {"id": 2, "file_name": "train/Neutral/000002.jpg", "width": 64, "height": 64},
            {"id": 3, "file_name": "more/000013.jpg", "width": 16, "height": 16},
            {"id": 4, "file_name": "not_in_the_dataset.jpg", "width": 8, "height": 8},
        ],
        "annotations": [
            {  # body, face and hands, with the usual extra fields
                "id": 10,
                "image_id": 1,
                "category_id": 1,
                "keypoints": body,
                "face_kpts": face,
                "face_valid": True,
                "lefthand_kpts": [0.0] * 63,
                "lefthand_valid": False,
                "foot_kpts": [1.0] * 18,
                "bbox": [1, 2, 3, 4],
                "score": 0.9,
            },
            {"id": 11, "image_id": 1, "category_id": 1, "keypoints": body},  # no face fields at all
            {"id": 12, "image_id": 2, "face_kpts": face},  # a face, no face_valid, no category
            {
                "id": 13,
                "image_id": 2,
                "category_id": 1,
                "keypoints": body,
                "face_kpts": face,
                "face_valid": False,
            },
            {"id": 14, "image_id": 3, "category_id": 2, "keypoints": body},  # not a person
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}],
    }
    coco = tmp_path / "other_tool.json"
    coco.write_text(json.dumps(wholebody))
    assert main(["annotate", "gaf3", str(root), "--import-coco", str(coco)]) == 0
    assert "1 images matched no media, first 'not_in_the_dataset.jpg'" in capsys.readouterr().out
    store = AnnotationStore(root / "annotations")
    assert sorted(store.keys()) == [
        "train/Negative/more/000013/0",
        "train/Neutral/000002/0",
        "train/Positive/000001/0",
    ]
    first = store["train/Positive/000001/0"]
    assert (first.num_bodies, first.num_faces, first.width) == (2, 1, 64)
    np.testing.assert_allclose(first.persons[0].body[:, :2], np.reshape(body, (17, 3))[:, :2])
    assert first.persons[0].body[:, 2].min() > 0  # visibility 1 (occluded) counts as seen
    second = store["train/Neutral/000002/0"]
    assert (second.num_bodies, second.num_faces) == (1, 1) and second.persons[1].face is None
    assert store["train/Negative/more/000013/0"].persons == []


def test_a_malformed_file_is_one_line_naming_it(tmp_path, capsys):
    coco = tmp_path / "bad.json"
    image = {"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}
    coco.write_text(
        json.dumps({"images": [image], "annotations": [{"id": 5, "image_id": 1, "keypoints": [1.0] * 50}]})
    )
    assert main(["annotate", "--import-coco", str(coco), "--out", str(tmp_path / "ann")]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert str(coco) in line and "annotation 5: keypoints holds 50 values, expected 51" in line


def test_foreign_file_names_without_a_dataset_become_still_image_keys():
    data = {
        "images": [{"id": 7, "file_name": "000123.jpg", "width": 10, "height": 10}],
        "annotations": [
            {"image_id": 7, "category_id": 1, "keypoints": [1.0, 2.0, 1] * 17, "face_valid": False}
        ],
    }
    [(key, frame)], unmatched = coco_to_frames(data)
    assert key == "000123.jpg/0" and frame.num_bodies == 1 and frame.num_faces == 0 and unmatched == []
