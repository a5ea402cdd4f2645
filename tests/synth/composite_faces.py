"""A tiny labelled face folder for the composites tests: drawn colour faces with .pts points.

Three expressions (happy, surprise, anger: one per group class), four sequences of two frames
each. Every face carries a green marker on its nose tip (iBUG point 30) so a test can check that
a composite's annotated point lands on it, and its ``.pts`` file holds a frontal iBUG-68 layout
(point 36, the outer corner of the eye on the image's left, left of point 45).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vemd.synth.face_folder import write_pts

SIDE = 40
EXPRESSIONS = ("happy", "surprise", "anger")
NOSE_TIP = 30
MARKER = (0, 255, 0)  # BGR


def ibug_layout(side: int = SIDE) -> np.ndarray:
    """(68, 2) points of a frontal face in a ``side`` crop, in iBUG order."""
    jaw = [(0.5 - 0.42 * np.cos(a), 0.45 + 0.45 * np.sin(a)) for a in np.linspace(np.pi, 0, 17)]
    brows = [(x, 0.28) for x in np.linspace(0.15, 0.42, 5)] + [(x, 0.28) for x in np.linspace(0.58, 0.85, 5)]
    nose = [(0.5, y) for y in np.linspace(0.35, 0.56, 4)] + [(x, 0.6) for x in np.linspace(0.4, 0.6, 5)]
    eye = [(-0.08, 0), (-0.04, -0.03), (0.04, -0.03), (0.08, 0), (0.04, 0.03), (-0.04, 0.03)]
    eyes = [(0.3 + dx, 0.4 + dy) for dx, dy in eye] + [(0.7 + dx, 0.4 + dy) for dx, dy in eye]
    outer = [(0.5 - 0.16 * np.cos(a), 0.76 + 0.06 * np.sin(-a)) for a in np.linspace(0, 2 * np.pi, 13)[:-1]]
    inner = [(0.5 - 0.1 * np.cos(a), 0.76 + 0.03 * np.sin(-a)) for a in np.linspace(0, 2 * np.pi, 9)[:-1]]
    points = np.array(jaw + brows + nose + eyes + outer + inner, np.float32) * (side - 1)
    assert points.shape == (68, 2)
    return points


def make_face_folder(root: Path, *, sequences: int = 4, frames: int = 2, pts: bool = True) -> Path:
    """Write ``root/<expression>/S<k>_<seq>_<frame>.png`` (+ ``.pts``) and return ``root``."""
    points = ibug_layout()
    for e, expression in enumerate(EXPRESSIONS):
        folder = root / expression
        folder.mkdir(parents=True)
        for s in range(sequences):
            for f in range(frames):
                image = np.full((SIDE, SIDE, 3), 60, np.uint8)
                skin = (120 + 30 * e, 150 + 10 * s, 200 - 5 * f)
                cv2.ellipse(
                    image, (SIDE // 2, SIDE // 2), (SIDE // 2 - 2, SIDE // 2 - 1), 0, 0, 360, skin, -1
                )
                for i in (36, 45):
                    cv2.circle(image, tuple(int(v) for v in points[i]), 2, (40, 40, 40), -1)
                x, y = (int(round(v)) for v in points[NOSE_TIP])
                cv2.circle(image, (x, y), 3, MARKER, -1)
                name = f"S{10 + s:03d}_{e:03d}_{f:08d}"
                cv2.imwrite(str(folder / f"{name}.png"), image)
                if pts:
                    write_pts(folder / f"{name}.pts", points)
    return root


def make_backgrounds(root: Path) -> Path:
    """Two plain grey background images of different sizes (no green anywhere)."""
    root.mkdir(parents=True)
    cv2.imwrite(str(root / "a.png"), np.full((90, 120, 3), 128, np.uint8))
    cv2.imwrite(str(root / "b.jpg"), np.full((200, 150, 3), 100, np.uint8))
    return root
