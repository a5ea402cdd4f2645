"""Random label-free backgrounds: a gradient, a soft texture and clutter shapes (numpy + OpenCV).

The smooth part (gradient + texture) is computed on a coarse grid and upsampled once, so a
background costs a few full-resolution OpenCV calls.
"""

from __future__ import annotations

import cv2
import numpy as np

_GRID = 16
_RAMP = np.linspace(-1.0, 1.0, _GRID)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def draw_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8 BGR background; all randomness comes from ``rng``."""
    xs, ys = _RAMP[None, :, None], _RAMP[:, None, None]
    a, b = rng.integers(0, 256, (2, 3))
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        ramp = 0.5 + (0.5 / np.sqrt(2)) * (np.cos(angle) * xs + np.sin(angle) * ys)
    else:
        cx, cy = rng.uniform(-1, 1, 2)
        ramp = np.minimum(1.0, np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) / 2)
    cells = int(rng.integers(3, 12))
    texture = cv2.resize(rng.uniform(-1, 1, (cells, cells, 3)), (_GRID, _GRID), interpolation=cv2.INTER_CUBIC)
    coarse = np.clip(a + (b - a) * ramp + texture * rng.uniform(0, 50), 0, 255).astype(np.uint8)
    canvas = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(2, 14))):
        _clutter(canvas, rng, size)
    grain = rng.uniform(0, 12)
    if grain > 3:
        noise = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
        noise = cv2.resize(noise, (size, size), interpolation=cv2.INTER_NEAREST)
        canvas = cv2.addWeighted(canvas, 1.0, noise, grain / 255, -grain / 2)
    return canvas


def _clutter(canvas: np.ndarray, rng: np.random.Generator, size: int) -> None:
    """One shape: a rectangle (window, furniture), a disc or a thick line; filled or outlined."""
    kind = rng.integers(3)
    colour = _colour(rng)
    thickness = -1 if rng.random() < 0.6 else int(rng.integers(1, 6))
    x0, y0, x1, y1 = (int(v) for v in rng.integers(0, size, 4))
    if kind == 0:
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness, cv2.LINE_AA)
    elif kind == 1:
        cv2.circle(canvas, (x0, y0), int(rng.integers(3, size // 4)), colour, thickness, cv2.LINE_AA)
    else:
        cv2.line(canvas, (x0, y0), (x1, y1), colour, int(rng.integers(1, 8)), cv2.LINE_AA)
