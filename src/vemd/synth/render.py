"""Rendering a sampled scene into frames and their exact annotations.

Per frame: the clip's background, people posed and drawn back to front on the canvas, the
camera (pan + zoom, interpolated over the clip) mapping canvas to frame. Annotations use the
same mapping: body (17, 3) and face (68, 3) as (x, y, visibility) in frame pixels, with
visibility 0 for points covered by a nearer person or outside the frame. A person with no
visible face point gets no face; a person with nothing visible is left out (as an
automatic annotator would). :func:`render_frames` also gives the share of each person's face
points that is visible, the weight of the valence/arousal rule (:mod:`vemd.synth.affect`).
"""

from __future__ import annotations

import cv2
import numpy as np

from vemd.structure.annotations import FrameAnnotation, Person
from vemd.synth.background import draw_background
from vemd.synth.occlusion import draw_silhouettes, unoccluded
from vemd.synth.person import draw_person, pose_person
from vemd.synth.scene import Scene


def camera_matrix(scene: Scene, t: int) -> np.ndarray:
    """(2, 3) affine map from canvas to frame pixels at frame ``t``."""
    (x0, y0, z0), (x1, y1, z1) = scene.camera
    w = t / (scene.options.frames - 1) if scene.options.frames > 1 else 0.0
    pan_x, pan_y, zoom = x0 + w * (x1 - x0), y0 + w * (y1 - y0), z0 + w * (z1 - z0)
    half, centre = scene.options.image_size / 2, scene.options.canvas_size / 2
    return np.array(
        [[zoom, 0.0, half - zoom * (centre + pan_x)], [0.0, zoom, half - zoom * (centre + pan_y)]]
    )


def render_scene(scene: Scene) -> list[tuple[np.ndarray, FrameAnnotation]]:
    """T pairs of (frame (S, S, 3) uint8 BGR, exact annotation of that frame)."""
    return [(frame, annotation) for frame, annotation, _ in render_frames(scene)]


def render_frames(scene: Scene) -> list[tuple[np.ndarray, FrameAnnotation, np.ndarray]]:
    """T triples of (frame, exact annotation, (N,) share of each person's 68 face points visible).

    The share counts the points that are unoccluded and inside the frame, as the annotation's
    face visibility does; it is kept for every person of the scene, in drawing order, also for
    those the annotation leaves out (share 0).
    """
    size, margin = scene.options.image_size, scene.options.margin
    background = draw_background(np.random.default_rng(scene.background_seed), scene.options.canvas_size)
    out = []
    for t in range(scene.options.frames):
        poses = [pose_person(p, t) for p in scene.people]
        canvas = background.copy()
        for pose, person in zip(poses, scene.people):
            draw_person(canvas, pose, person.look)
        ids = draw_silhouettes(poses, [p.look for p in scene.people], scene.options.canvas_size)
        matrix = camera_matrix(scene, t)
        if np.allclose(matrix, [[1, 0, -margin], [0, 1, -margin]]):
            frame = canvas[margin : margin + size, margin : margin + size].copy()
        else:
            frame = cv2.warpAffine(
                canvas, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
            )
        persons, face_shares = [], np.zeros(len(poses))
        for i, pose in enumerate(poses, start=1):
            points = _annotate(np.concatenate([pose.body, pose.face]), ids, i, matrix, size)
            body, face = points[:17], points[17:]
            face_shares[i - 1] = face[:, 2].mean()
            if body[:, 2].any():
                persons.append(Person(body=body, face=face if face[:, 2].any() else None))
        out.append((frame, FrameAnnotation(size, size, persons), face_shares))
    return out


def _annotate(
    points: np.ndarray, ids: np.ndarray, person_id: int, matrix: np.ndarray, size: int
) -> np.ndarray:
    """(K, 3) float32 (x, y, visibility) in frame pixels for canvas points (K, 2)."""
    xy = points @ matrix[:, :2].T + matrix[:, 2]
    inside = np.all((xy >= 0) & (xy <= size - 1), axis=1)
    visible = unoccluded(ids, points, person_id) & inside
    return np.concatenate([xy, visible[:, None]], axis=1).astype(np.float32)
