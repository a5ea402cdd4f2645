"""Sampling one SynthGroups clip: its class, people, background and camera path.

Order of draws (so that nuisance factors carry no label): the class is given, the number
of people is drawn uniformly in 1..max_people, sizes/positions/looks from label-free
distributions, then the individual valences conditioned on the class
(:mod:`vemd.synth.group`). People are kept in drawing order, back (small) to front
(large); the last one is the largest (the dominant person for task ``ier``).

With recurring people (:attr:`SceneOptions.identities`, ``vemd synth --identities``) the
looks are not drawn: the people are distinct identities drawn without replacement (their
number capped at how many there are), each with its own look and shapes; positions, sizes,
valences, motion, background and camera stay random. Task ``identity`` shows one of them
alone, the class being which one. Without identities no draw differs from before they existed.

Coordinates are canvas pixels: the canvas is the frame plus a margin on each side, so
that the camera can pan and zoom without showing a border.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from vemd.synth.face import FacePalette
from vemd.synth.group import sample_group_valences, sample_individual_valences
from vemd.synth.occlusion import draw_silhouettes, unoccluded
from vemd.synth.person import Look, PersonSpec, Pose, pose_person

if TYPE_CHECKING:
    from vemd.synth.identity import Identity

TASKS = ("ger", "ier", "identity")
_LIGHT_SKIN, _DARK_SKIN = np.array([175, 200, 240]), np.array([45, 70, 120])
_MIN_VISIBLE = 0.45  # share of face + arm points of each person left unoccluded at frame 0
_ATTEMPTS = 16  # layouts tried before keeping the least occluded one


@dataclass(frozen=True)
class SceneOptions:
    """What every clip of a dataset shares."""

    image_size: int = 224
    frames: int = 5
    max_people: int = 12
    task: str = "ger"
    identities: tuple[Identity, ...] = ()  # the recurring people, if any (needed by task identity)
    min_people: int = 1

    @property
    def margin(self) -> int:
        return round(0.06 * self.image_size)

    @property
    def canvas_size(self) -> int:
        return self.image_size + 2 * self.margin


@dataclass(frozen=True)
class Scene:
    """A sampled clip, ready to render. ``camera`` is (pan_x, pan_y, zoom) at the first and last frame."""

    label: int
    people: tuple[PersonSpec, ...]
    background_seed: int
    camera: tuple[tuple[float, float, float], tuple[float, float, float]]
    options: SceneOptions


def sample_scene(rng: np.random.Generator, label: int, options: SceneOptions) -> Scene:
    """Draw a clip of class ``label`` (0 Negative, 1 Neutral, 2 Positive; task identity: the person's index)."""
    if options.task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {options.task!r}")
    cast = options.identities
    if options.task == "identity" and not 0 <= label < len(cast):
        raise ValueError(f"task identity shows one of {len(cast)} identities, got label {label}")
    s = options.image_size
    if options.task == "identity":
        n = 1
    else:
        most = min(options.max_people, len(cast)) if cast else options.max_people
        n = int(rng.integers(options.min_people, most + 1))
    sizes = _sizes(rng, n, options.task) * (s / 224)
    if options.task == "ger":
        valences = sample_group_valences(rng, label, n, largest=n - 1)
    elif options.task == "ier":
        valences = sample_individual_valences(rng, label, n, dominant=n - 1)
    else:
        valences = rng.integers(-1, 2, size=1)
    if not cast:
        looks, traits = [sample_look(rng) for _ in range(n)], [{}] * n
    else:
        chosen = [label] if options.task == "identity" else rng.choice(len(cast), n, replace=False).tolist()
        looks = [cast[j].look for j in chosen]
        traits = [cast[j].traits() for j in chosen]
    motion = [_motion(rng, int(v), options.frames) for v in valences]
    people = [
        PersonSpec(x=0.0, y=0.0, size=float(h), valence=int(v), look=look, **m, **t)
        for h, v, look, m, t in zip(sizes, valences, looks, motion, traits)
    ]
    poses = [pose_person(p, 0) for p in people]
    best, best_xy = -1.0, None
    for _attempt in range(_ATTEMPTS):
        xy = _positions(rng, sizes, options)
        shown = _least_visible(
            [pose.shifted(x, y) for pose, x, y in zip(poses, *xy)], looks, options.canvas_size
        )
        if shown > best:
            best, best_xy = shown, xy
        if best >= _MIN_VISIBLE:
            break
    people = tuple(replace(p, x=float(x), y=float(y)) for p, x, y in zip(people, *best_xy))
    if options.frames > 1:
        pan = rng.uniform(-0.03, 0.03, (2, 2)) * s
        zoom = rng.uniform(0.98, 1.08, 2)
        camera = ((pan[0, 0], pan[0, 1], zoom[0]), (pan[1, 0], pan[1, 1], zoom[1]))
    else:
        camera = ((0.0, 0.0, 1.0), (0.0, 0.0, 1.0))
    return Scene(label, people, int(rng.integers(2**31)), camera, options)


def _sizes(rng: np.random.Generator, n: int, task: str) -> np.ndarray:
    """Face heights (n,) in pixels at 224, ascending; the last is the largest."""
    if task == "identity":
        return np.array([rng.uniform(24, 56)])
    if task == "ier":
        dominant = rng.uniform(34, 60)
        others = np.exp(rng.uniform(np.log(8), np.log(0.6 * dominant), n - 1))
        return np.append(np.sort(others), dominant)
    largest = max(16.0, rng.uniform(24, 62) / math.sqrt(1 + (n - 1) / 4))
    smallest = rng.uniform(8, min(14.0, largest))
    return np.sort(np.exp(rng.uniform(np.log(smallest), np.log(largest), n)))


def _positions(
    rng: np.random.Generator, sizes: np.ndarray, options: SceneOptions
) -> tuple[np.ndarray, np.ndarray]:
    """Head centres (n,), (n,): spread across the frame, larger (nearer) people lower."""
    s, n = options.image_size, len(sizes)
    if options.task == "identity":  # one person, head and shoulders in view
        xs, ys = rng.uniform(0.25, 0.75, 1) * s, rng.uniform(0.22, 0.38, 1) * s
        return xs + options.margin, ys + options.margin
    slots = rng.permutation(n) + rng.uniform(0.15, 0.85, n)
    xs = (0.08 + 0.84 * slots / n) * s
    span = np.log(sizes[-1] / sizes[0]) if n > 1 else 1.0
    rel = np.log(sizes / sizes[0]) / max(span, 1e-6)
    ys = (0.2 + 0.3 * rel + rng.uniform(-0.06, 0.06, n)) * s
    if options.task == "ier":
        centre, half = rng.uniform(0.35, 0.65) * s, 1.1 * sizes[-1]
        left, right = max(centre - half - 0.04 * s, 0.0), max(0.96 * s - centre - half, 0.0)
        free = (xs[:-1] - 0.08 * s) / (0.84 * s) * (left + right)  # same spread, around the dominant person
        xs[:-1] = np.where(free < left, 0.04 * s + free, centre + half + free - left)
        xs[-1], ys[-1] = centre, rng.uniform(0.3, 0.42) * s
    return xs + options.margin, ys + options.margin


def sample_look(rng: np.random.Generator) -> Look:
    """Colours from one batch of uniform draws (fast), all label-free."""
    u = rng.random(22)
    skin = (
        np.clip(_LIGHT_SKIN + u[0] * (_DARK_SKIN - _LIGHT_SKIN) + 24 * u[1:4] - 12, 0, 255)
        .astype(int)
        .tolist()
    )
    lips = (
        np.clip(np.array([70, 70, 150]) * (0.5 + 0.6 * u[4]) + 40 * u[5:8] - 20, 0, 255).astype(int).tolist()
    )
    hair = 255 * u[9:12] if u[8] < 0.25 else 10 + 80 * u[9:12]
    colours = (255 * u[12:18]).astype(int).tolist()
    palette = FacePalette(
        skin=tuple(skin),
        features=tuple((10 + 60 * u[18:21]).astype(int).tolist()),
        lips=tuple(lips),
        shade=tuple(int(0.7 * c) for c in skin),
    )
    return Look(
        skin=tuple(skin),
        hair=tuple(hair.astype(int).tolist()),
        shirt=tuple(colours[:3]),
        pants=tuple(colours[3:]),
        face=palette,
        hair_style=int(u[21] < 0.5),
    )


def _motion(rng: np.random.Generator, valence: int, frames: int) -> dict:
    """Expression strength, posture variant, mouth, per-frame on/off, sway and arm jitter."""
    u = rng.random(10)
    active = [True] * frames
    if frames > 1 and valence != 0 and u[0] < 0.3:
        length = math.ceil(frames / 2) + int(u[1] * (frames - math.ceil(frames / 2)))
        start = int(u[2] * (frames - length + 1))
        active = [start <= t < start + length for t in range(frames)]
    return {
        "intensity": 0.75 + 0.25 * float(u[3]),
        "variant": int(u[4] < 0.5),
        "opening": 0.2 + 0.8 * float(u[6]) if u[5] < 0.5 else 0.0,
        "active": tuple(active),
        "sway": (2 * math.pi * float(u[7]), 0.15 * float(u[8]), 0.2 * float(u[9]) - 0.1),
        "jitter": tuple(rng.normal(0, 6, 4).tolist()),
    }


def _least_visible(poses: list[Pose], looks: list[Look], canvas_size: int) -> float:
    """Smallest share of face and arm points left unoccluded, over the people of frame 0."""
    if len(poses) == 1:
        return 1.0
    ids = draw_silhouettes(poses, looks, canvas_size)
    shares = [
        unoccluded(ids, np.concatenate([pose.face, pose.body[5:11]]), i).mean()
        for i, pose in enumerate(poses, start=1)
    ]
    return float(min(shares))
