"""Which keypoints are hidden by people in front: an id map of the drawn silhouettes.

People are drawn back to front with ids 1..N; a keypoint of person i is occluded where
the id map holds a larger id (someone nearer covers it). Self-occlusion is not modelled.
"""

from __future__ import annotations

import numpy as np

from vemd.synth.person import Look, Pose, draw_silhouette


def draw_silhouettes(poses: list[Pose], looks: list[Look], canvas_size: int) -> np.ndarray:
    """(S, S) uint8 id map: 0 background, i for person i (1-based, drawing order)."""
    ids = np.zeros((canvas_size, canvas_size), dtype=np.uint8)
    for i, (pose, look) in enumerate(zip(poses, looks), start=1):
        draw_silhouette(ids, pose, look, i)
    return ids


def unoccluded(ids: np.ndarray, points: np.ndarray, person_id: int) -> np.ndarray:
    """(K,) bool: points (K, 2) of person ``person_id`` inside the map and not covered by a nearer person."""
    size = ids.shape[0]
    cols = np.round(points).astype(np.int64)
    inside = np.all((cols >= 0) & (cols < size), axis=1)
    covered = np.zeros(len(points), dtype=bool)
    cols = cols[inside]
    covered[inside] = ids[cols[:, 1], cols[:, 0]] > person_id
    return inside & ~covered
