"""Structural supervision targets rendered from keypoints.

Heatmap targets (paper §4.1): for each limb channel, ``exp(-d² / 2σ²)`` of the distance
``d`` (in cells) from every cell centre to the limb segment, combined over persons by
the maximum. The segments of all persons and limbs are gathered with array ops; one
compiled kernel (numba) then visits, per segment, only the cells within ``cutoff·σ``
of it (values beyond are below ``exp(-cutoff²/2)``) and keeps the maximum per cell.

PersonQuery targets: per person, the 4·N_limbs endpoint coordinates normalised to
[0, 1], a limb-visibility mask and the N_limbs × N_limbs limb adjacency (1 where two
limbs share a joint and both are visible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from vemd.structure.skeleton import Skeleton


def _segments(
    keypoints: np.ndarray, skeleton: Skeleton, width: int, height: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visible limb segments in cell units.

    Args:
        keypoints: (N, J, 3) persons' (x, y, visibility) in pixels.
    Returns:
        a (K, 2) and b (K, 2) endpoints as (x, y) where cell (i, j) has centre (j, i),
        channel (K,) limb index of each segment.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, skeleton.num_joints, 3)
    ends = skeleton.limb_array  # (L, 2)
    xy = keypoints[..., :2] * np.array([size / width, size / height], np.float32) - 0.5
    a, b = xy[:, ends[:, 0]], xy[:, ends[:, 1]]  # (N, L, 2)
    visible = (keypoints[:, ends[:, 0], 2] > 0) & (keypoints[:, ends[:, 1], 2] > 0)  # (N, L)
    channel = np.broadcast_to(np.arange(len(ends)), visible.shape)
    return a[visible], b[visible], channel[visible]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _draw_segments(out, a, b, channel, sigma, radius):  # pragma: no cover - compiled
    """Max-combine exp(-d²/2σ²) of each segment into ``out`` (L, S, S).

    Each segment visits the cells of its bounding box grown by ``radius``; the inner
    loop has no branch so that it vectorises.
    """
    size = out.shape[1]
    scale = np.float32(-0.5) / (sigma * sigma)
    for k in range(a.shape[0]):
        ax, ay, bx, by = a[k, 0], a[k, 1], b[k, 0], b[k, 1]
        vx, vy = bx - ax, by - ay
        inv = np.float32(1.0) / max(vx * vx + vy * vy, np.float32(1e-12))
        x0 = max(int(np.floor(min(ax, bx) - radius)), 0)
        x1 = min(int(np.ceil(max(ax, bx) + radius)), size - 1)
        y0 = max(int(np.floor(min(ay, by) - radius)), 0)
        y1 = min(int(np.ceil(max(ay, by) + radius)), size - 1)
        for y in range(y0, y1 + 1):
            py = np.float32(y) - ay
            row = out[channel[k], y]
            for x in range(x0, x1 + 1):
                px = np.float32(x) - ax
                t = min(max((px * vx + py * vy) * inv, np.float32(0.0)), np.float32(1.0))
                dx, dy = px - t * vx, py - t * vy
                row[x] = max(row[x], np.exp((dx * dx + dy * dy) * scale))


def render_limb_heatmaps(
    keypoints: np.ndarray,
    skeleton: Skeleton,
    width: int,
    height: int,
    *,
    size: int = 56,
    sigma: float = 2.0,
    cutoff: float = 3.0,
) -> np.ndarray:
    """Soft limb-segment heatmaps of all persons in a frame.

    Args:
        keypoints: (N, J, 3) keypoints in pixels of a ``width`` × ``height`` frame;
            limbs with an end of visibility 0 are skipped.
        skeleton: the limb set (one output channel per limb).
        size: output grid side in cells (56 in the paper).
        sigma: Gaussian width in cells.
        cutoff: a segment reaches the cells up to ``cutoff`` sigmas from it (more in the
            corners of its box); beyond, it contributes 0 (error at most exp(-cutoff²/2),
            0.011 for the default 3).
    Returns:
        (num_limbs, size, size) float32 in [0, 1].
    """
    out = np.zeros((skeleton.num_limbs, size, size), dtype=np.float32)
    a, b, channel = _segments(keypoints, skeleton, width, height, size)
    if len(a):
        _draw_segments(out, a, b, channel.astype(np.int64), np.float32(sigma), np.float32(cutoff * sigma))
    return out


@dataclass
class PersonQueryTargets:
    """Per-person structure targets for a frame (N persons, L limbs).

    Attributes:
        limbs: (N, 4·L) endpoints (x1, y1, x2, y2 per limb) in [0, 1]; 0 where invisible.
        limb_mask: (N, L) 1 where both ends of the limb are visible.
        adjacency: (N, L, L) 1 where two distinct visible limbs share a joint.
    """

    limbs: np.ndarray
    limb_mask: np.ndarray
    adjacency: np.ndarray


def person_query_targets(
    keypoints: np.ndarray, skeleton: Skeleton, width: int, height: int
) -> PersonQueryTargets:
    """Normalised limb endpoints, visibility and limb adjacency for every person.

    Args:
        keypoints: (N, J, 3) in pixels of a ``width`` × ``height`` frame.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32).reshape(-1, skeleton.num_joints, 3)
    ends = skeleton.limb_array
    xy = np.clip(keypoints[..., :2] / np.array([width, height], np.float32), 0.0, 1.0)
    visible_joint = keypoints[..., 2] > 0
    mask = visible_joint[:, ends[:, 0]] & visible_joint[:, ends[:, 1]]  # (N, L)
    limbs = np.concatenate([xy[:, ends[:, 0]], xy[:, ends[:, 1]]], axis=-1)  # (N, L, 4)
    limbs = limbs * mask[..., None]
    adjacency = skeleton.limb_adjacency[None] * (mask[:, :, None] & mask[:, None, :])
    return PersonQueryTargets(
        limbs=limbs.reshape(len(keypoints), 4 * skeleton.num_limbs).astype(np.float32),
        limb_mask=mask.astype(np.float32),
        adjacency=adjacency.astype(np.float32),
    )
