"""Simulated annotator errors, so exact synthetic annotations can look like automatic ones.

With noise level p: each person is missed with probability p; a face is missed with
probability p·(16 / face height) (small faces are missed more often, as by real face
detectors), capped at 1; each visible keypoint is dropped with probability p/2; and
coordinates are jittered by a Gaussian of σ = p·0.5 face heights. Points that leave the
frame get visibility 0.
"""

from __future__ import annotations

import numpy as np

from vemd.structure.annotations import FrameAnnotation, Person


def add_annotation_noise(frame: FrameAnnotation, rng: np.random.Generator, p: float) -> FrameAnnotation:
    """A noisy copy of ``frame``; ``p`` = 0 returns an equal annotation."""
    if p <= 0:
        return frame
    persons = []
    for person in frame.persons:
        body = person.body
        face_height = float(np.linalg.norm(body[5, :2] - body[6, :2])) / 1.8
        if rng.random() < p:
            continue
        face = person.face
        if face is not None and rng.random() < p * 16 / max(face_height, 1.0):
            face = None
        persons.append(
            Person(
                body=_jitter(body, rng, p, face_height, frame),
                face=None if face is None else _jitter(face, rng, p, face_height, frame),
            )
        )
    return FrameAnnotation(frame.width, frame.height, persons)


def _jitter(
    points: np.ndarray, rng: np.random.Generator, p: float, scale: float, frame: FrameAnnotation
) -> np.ndarray:
    out = points.copy()
    out[:, :2] += rng.normal(0, p * 0.5 * scale, (len(points), 2))
    inside = (
        (out[:, 0] >= 0) & (out[:, 0] <= frame.width - 1) & (out[:, 1] >= 0) & (out[:, 1] <= frame.height - 1)
    )
    kept = rng.random(len(points)) >= p / 2
    out[:, 2] *= inside & kept
    return out
