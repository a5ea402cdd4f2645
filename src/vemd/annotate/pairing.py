"""Pairing detected bodies with detected faces into persons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from vemd.structure.annotations import Person

if TYPE_CHECKING:
    from vemd.annotate.backends.base import BodyDetection, FaceDetection

HEAD_JOINTS = (0, 1, 2)  # nose, eyes (COCO-17)


def head_point(keypoints: np.ndarray) -> np.ndarray | None:
    """(2,) mean of the visible nose and eyes of (17, 3) keypoints, or None."""
    head = keypoints[list(HEAD_JOINTS)]
    seen = head[:, 2] > 0
    return head[seen, :2].mean(axis=0) if seen.any() else None


def head_in_box(keypoints: np.ndarray, box: np.ndarray, margin: float = 0.25) -> bool:
    """Whether the head point lies inside ``box`` (x0, y0, x1, y1) grown by ``margin`` of its size."""
    point = head_point(keypoints)
    if point is None:
        return False
    grow = margin * (box[2:] - box[:2])
    return bool(np.all(point >= box[:2] - grow) and np.all(point <= box[2:] + grow))


def pair_persons(bodies: list[BodyDetection], faces: list[FaceDetection], gate: float = 0.75) -> list[Person]:
    """One Person per body and per face, a body and a face merged when they match.

    The cost of a pair is the distance from the body's head point to the face centre over
    the face size; pairs above ``gate`` stay apart. Assignment is one-to-one (Hungarian).
    """
    cost = np.full((len(bodies), len(faces)), np.inf)
    for i, body in enumerate(bodies):
        point = head_point(body.keypoints)
        if point is None:
            continue
        for j, face in enumerate(faces):
            centre, size = (face.box[:2] + face.box[2:]) / 2, np.sqrt(np.prod(face.box[2:] - face.box[:2]))
            cost[i, j] = np.linalg.norm(point - centre) / max(size, 1.0)
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6)) if cost.size else ([], [])
    face_of = {int(i): int(j) for i, j in zip(rows, cols) if cost[i, j] <= gate}
    persons = [
        Person(body=body.keypoints, face=faces[face_of[i]].landmarks if i in face_of else None)
        for i, body in enumerate(bodies)
    ]
    persons += [Person(face=face.landmarks) for j, face in enumerate(faces) if j not in face_of.values()]
    return persons
