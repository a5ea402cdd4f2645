"""Backend selection, the vitpose failure path, and body/face pairing."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vemd.annotate.backends import build_backend, resolve_backend
from vemd.annotate.backends.base import BodyDetection, FaceDetection
from vemd.annotate.pairing import pair_persons
from vemd.errors import VemdError


def test_vitpose_fails_at_once_naming_what_is_missing(monkeypatch):
    import vemd.annotate.backends.vitpose as vitpose

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    if missing := vitpose.missing_packages():  # whichever are not installed here, all named
        with pytest.raises(VemdError, match=".*".join(missing)):
            build_backend("vitpose")
    monkeypatch.setattr(vitpose, "missing_packages", lambda: [])
    monkeypatch.setattr(vitpose, "_torch_hub_dir", lambda: _empty_dir())
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda repo, name: None)
    with pytest.raises(VemdError, match="rtdetr_r50vd_coco_o365.*vitpose-base-simple.*2DFAN4"):
        build_backend("vitpose")
    assert resolve_backend("auto") == "offline"
    assert time.perf_counter() - start < 20


def _empty_dir():
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp())


def test_unknown_backend_is_a_user_error():
    with pytest.raises(VemdError, match="unknown annotation backend"):
        resolve_backend("openpose")


def _face(x: float, y: float, size: float = 20.0) -> FaceDetection:
    return FaceDetection(box=np.array([x, y, x + size, y + size], np.float32), landmarks=np.ones((68, 3)))


def _body(head_x: float, head_y: float) -> BodyDetection:
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:3] = (head_x, head_y, 2.0)
    keypoints[5:] = (head_x, head_y + 40, 2.0)
    return BodyDetection(keypoints=keypoints)


def test_pairing_merges_matching_body_and_face_and_keeps_the_rest():
    faces = [_face(100, 100), _face(10, 10)]
    bodies = [_body(20, 20), _body(300, 300)]
    persons = pair_persons(bodies, faces)
    assert len(persons) == 3
    assert persons[0].body is not None and persons[0].face is not None
    assert persons[1].body is not None and persons[1].face is None
    assert persons[2].body is None and persons[2].face is not None
    assert pair_persons([], []) == []
