"""Geometric augmentations that move pixels and keypoints together.

Images are uint8 (H, W, 3) arrays; keypoints are a dict ``{part: (N, J, 3)}`` of
(x, y, visibility) in pixels of that image, with ``part`` in ``body``/``face``.
A clip draws its random parameters once (:func:`sample_clip_transform`) and applies
them to every frame, so people do not jump between frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vemd.structure.skeleton import COCO17_FLIP, IBUG68_FLIP

Keypoints = dict[str, np.ndarray]
_FLIPS = {17: np.asarray(COCO17_FLIP), 68: np.asarray(IBUG68_FLIP)}


def _map_points(keypoints: Keypoints, fn) -> Keypoints:
    out = {}
    for part, points in keypoints.items():
        points = np.asarray(points, dtype=np.float32).copy()
        points[..., :2] = fn(points[..., :2])
        out[part] = points
    return out


def _hide_outside(keypoints: Keypoints, width: int, height: int) -> Keypoints:
    """Visibility 0 for points that left the frame."""
    for points in keypoints.values():
        x, y = points[..., 0], points[..., 1]
        outside = (x < 0) | (y < 0) | (x >= width) | (y >= height)
        points[..., 2] = np.where(outside, 0.0, points[..., 2])
    return keypoints


def hflip(image: np.ndarray, keypoints: Keypoints) -> tuple[np.ndarray, Keypoints]:
    """Mirror left-right; x → W - x and left/right joints swap indices."""
    width = image.shape[1]
    flipped = _map_points(keypoints, lambda xy: np.stack([width - xy[..., 0], xy[..., 1]], -1))
    flipped = {part: pts[:, _FLIPS[pts.shape[1]]] for part, pts in flipped.items()}
    return np.ascontiguousarray(image[:, ::-1]), flipped


def crop(image: np.ndarray, keypoints: Keypoints, box: tuple[int, int, int, int]):
    """Cut ``box`` = (x0, y0, width, height); the part outside the image is zero-padded."""
    x0, y0, w, h = box
    height, width = image.shape[:2]
    out = np.zeros((h, w, image.shape[2]), dtype=image.dtype)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + w, width), min(y0 + h, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    shifted = _map_points(keypoints, lambda xy: xy - np.array([x0, y0], np.float32))
    return out, _hide_outside(shifted, w, h)


def resize(image: np.ndarray, keypoints: Keypoints, size: tuple[int, int]):
    """Resize to ``size`` = (width, height); keypoints scale with the pixels."""
    height, width = image.shape[:2]
    new_w, new_h = size
    shrink = new_w < width or new_h < height
    out = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    scale = np.array([new_w / width, new_h / height], np.float32)
    return out, _map_points(keypoints, lambda xy: xy * scale)


@dataclass(frozen=True)
class ClipTransform:
    """One draw of augmentation parameters, applied identically to each frame of a clip.

    Attributes:
        box: crop (x0, y0, width, height) in source pixels, or None for the full frame.
        flip: mirror after cropping.
        size: output (width, height).
    """

    box: tuple[int, int, int, int] | None
    flip: bool
    size: tuple[int, int]

    def __call__(self, image: np.ndarray, keypoints: Keypoints) -> tuple[np.ndarray, Keypoints]:
        if self.box is not None:
            image, keypoints = crop(image, keypoints, self.box)
        image, keypoints = resize(image, keypoints, self.size)
        if self.flip:
            image, keypoints = hflip(image, keypoints)
        return image, keypoints


def sample_clip_transform(
    width: int,
    height: int,
    size: tuple[int, int],
    rng: np.random.Generator | None,
    *,
    scale: tuple[float, float] = (0.8, 1.0),
    flip_prob: float = 0.5,
) -> ClipTransform:
    """Random scale-crop + flip (training) or the identity resize (``rng`` None)."""
    if rng is None:
        return ClipTransform(None, False, size)
    area_frac = rng.uniform(*scale)
    w = max(1, int(round(width * np.sqrt(area_frac))))
    h = max(1, int(round(height * np.sqrt(area_frac))))
    x0 = int(rng.integers(0, width - w + 1))
    y0 = int(rng.integers(0, height - h + 1))
    return ClipTransform((x0, y0, w, h), bool(rng.random() < flip_prob), size)
