"""Heatmap target rendering speed: 10 persons, body (18) + face (83) channels at 56×56.

Prints frames/s of vemd's vectorised renderer on one core and the speed-up over a
straightforward per-pixel reference (kept here), after checking both agree.

    .venv/bin/python benchmarks/bench_targets.py [--frames 300] [--persons 10]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from vemd.structure.skeleton import BODY, FACE_HEATMAP_SKELETON
from vemd.structure.targets import render_limb_heatmaps


def reference_heatmaps(keypoints, skeleton, width, height, size=56, sigma=2.0):
    """One full grid per limb per person, one Python iteration per cell."""
    out = np.zeros((skeleton.num_limbs, size, size), np.float32)
    for person in keypoints:
        for channel, (i, j) in enumerate(skeleton.limbs):
            if person[i, 2] <= 0 or person[j, 2] <= 0:
                continue
            ax, ay = person[i, 0] * size / width - 0.5, person[i, 1] * size / height - 0.5
            bx, by = person[j, 0] * size / width - 0.5, person[j, 1] * size / height - 0.5
            vx, vy = bx - ax, by - ay
            length2 = max(vx * vx + vy * vy, 1e-12)
            for y in range(size):
                for x in range(size):
                    t = min(max(((x - ax) * vx + (y - ay) * vy) / length2, 0.0), 1.0)
                    d2 = (x - ax - t * vx) ** 2 + (y - ay - t * vy) ** 2
                    out[channel, y, x] = max(out[channel, y, x], math.exp(-d2 / (2 * sigma * sigma)))
    return out


def _face_template() -> np.ndarray:
    """(68, 2) iBUG-ordered landmarks of a frontal face in a unit box centred at 0."""
    jaw = [(0.5 * np.cos(a), 0.55 * np.sin(a)) for a in np.linspace(np.pi * 1.05, -0.05 * np.pi, 17)]
    jaw = [(-x, -y + 0.05) for x, y in jaw]
    brows = [
        (x, -0.25 - 0.05 * np.cos(x * 6)) for x in np.r_[np.linspace(-0.4, -0.1, 5), np.linspace(0.1, 0.4, 5)]
    ]
    bridge = [(0.0, y) for y in np.linspace(-0.15, 0.1, 4)]
    nostrils = [(x, 0.15) for x in np.linspace(-0.1, 0.1, 5)]

    def eye(cx):
        angles = np.linspace(np.pi, -np.pi, 7)[:-1]
        return [(cx + 0.1 * np.cos(a), -0.12 + 0.04 * np.sin(a)) for a in angles]

    outer = [(0.2 * np.cos(a), 0.32 + 0.08 * np.sin(a)) for a in np.linspace(np.pi, -np.pi, 13)[:-1]]
    inner = [(0.12 * np.cos(a), 0.32 + 0.03 * np.sin(a)) for a in np.linspace(np.pi, -np.pi, 9)[:-1]]
    points = jaw + brows + bridge + nostrils + eye(-0.22) + eye(0.22) + outer + inner
    return np.asarray(points, np.float64)


# COCO-17 standing pose in units of body height, origin at the hips' midpoint.
_BODY_TEMPLATE = np.array(
    [[0, -0.45], [-0.02, -0.47], [0.02, -0.47], [-0.05, -0.45], [0.05, -0.45], [-0.1, -0.33], [0.1, -0.33],
     [-0.14, -0.18], [0.14, -0.18], [-0.15, -0.03], [0.15, -0.03], [-0.07, 0], [0.07, 0],
     [-0.08, 0.25], [0.08, 0.25], [-0.08, 0.48], [0.08, 0.48]]
)  # fmt: skip


def scene(rng: np.random.Generator, persons: int) -> tuple[np.ndarray, np.ndarray]:
    """Plausible people in a 224×224 frame: body heights 40-220 px, faces 8-60 px."""
    face_template = _face_template()
    bodies, faces = [], []
    for _ in range(persons):
        height = rng.uniform(40, 220)
        centre = rng.uniform(20, 204, 2)
        body = centre + (_BODY_TEMPLATE + rng.normal(0, 0.02, (17, 2))) * height
        face_size = np.clip(height * 0.27, 8, 60)
        face = body[0] + face_template * face_size + rng.normal(0, 0.02 * face_size, (68, 2))
        bodies.append(np.c_[body, np.ones(17)])
        faces.append(np.c_[face, np.ones(68)])
    return np.stack(bodies), np.stack(faces)


def render(body, face):
    render_limb_heatmaps(body, BODY, 224, 224)
    render_limb_heatmaps(face, FACE_HEATMAP_SKELETON, 224, 224)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--persons", type=int, default=10)
    parser.add_argument("--reference-frames", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    scenes = [scene(rng, args.persons) for _ in range(args.frames)]

    body, face = scenes[0]
    for points, skeleton in ((body, BODY), (face, FACE_HEATMAP_SKELETON)):
        diff = np.abs(
            render_limb_heatmaps(points, skeleton, 224, 224) - reference_heatmaps(points, skeleton, 224, 224)
        )
        assert diff.max() < 0.012, f"renderer disagrees with the reference by {diff.max():.2e}"

    render(*scenes[0])  # warm-up
    start = time.perf_counter()
    for body, face in scenes:
        render(body, face)
    fast = args.frames / (time.perf_counter() - start)

    start = time.perf_counter()
    for body, face in scenes[: args.reference_frames]:
        reference_heatmaps(body, BODY, 224, 224)
        reference_heatmaps(face, FACE_HEATMAP_SKELETON, 224, 224)
    slow = args.reference_frames / (time.perf_counter() - start)

    print(f"heatmap targets, {args.persons} persons, 18 + 83 channels at 56x56, 1 thread")
    print(f"vemd vectorised : {fast:8.1f} frames/s")
    print(f"per-pixel ref.  : {slow:8.3f} frames/s")
    print(f"speed-up        : {fast / slow:8.0f}x")


if __name__ == "__main__":
    main()
