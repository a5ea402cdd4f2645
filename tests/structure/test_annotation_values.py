"""Annotation shards whose arrays are well formed but whose values training cannot take: NaN
keypoints, a frame of 0×0 pixels (``vemd fit`` divided by it: ZeroDivisionError). The store
refuses them when a shard is read, with one line naming the shard and the frame."""

from __future__ import annotations

import numpy as np
import pytest
from tests.faults.cases import poison_shard

from vemd.structure.annotations import AnnotationFormatError, AnnotationStore, FrameAnnotation, Person


def _store(root, frames: int = 3):
    body = np.concatenate([np.full((17, 2), 10.0), np.ones((17, 1))], 1)
    with AnnotationStore(root, create=True) as store:
        for i in range(frames):
            persons = [Person(body=body)] if i else []  # the first frame holds nobody
            store.add(f"clip/{i}", FrameAnnotation(64, 48, persons))
    return root / "shard-000000.npz"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("nan", r"frame 'clip/1': body keypoints hold NaN or infinite values"),
        ("zero-size", r"frame 'clip/0' has size 0×0; a frame is at least 1×1 pixels"),
    ],
)
def test_a_shard_with_values_training_cannot_take_is_one_line(tmp_path, kind, message):
    shard = poison_shard(kind, _store(tmp_path / "ann"))
    with pytest.raises(AnnotationFormatError, match=f"^{shard}: {message}$"):
        AnnotationStore(tmp_path / "ann")


def test_infinite_face_landmarks_are_refused_too(tmp_path):
    shard = _store(tmp_path / "ann")
    with np.load(shard) as data:
        arrays = {k: data[k].copy() for k in data.files}
    arrays["has_face"][1] = True
    arrays["face"][1, 5, 0] = np.inf
    np.savez(shard, **arrays)
    with pytest.raises(AnnotationFormatError, match="frame 'clip/2': face keypoints"):
        AnnotationStore(tmp_path / "ann")


def test_the_zero_keypoints_of_an_absent_part_are_not_a_problem(tmp_path):
    _store(tmp_path / "ann")
    store = AnnotationStore(tmp_path / "ann")
    assert store["clip/1"].persons[0].face is None and store["clip/0"].persons == []
