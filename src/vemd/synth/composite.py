"""One composite clip: real faces of known expression on a background, moving over T frames.

The synthetic group videos of the authors' EmotiW 2023 system, which the VE-MD paper (§5.3,
Table 11) pretrains its ViT branch on: faces with controlled expressions composited onto
backgrounds, "with controlled movement and occlusion".

Order of draws, so that no nuisance carries the label: the class is given; the number of faces
N in 2..max_people, their sizes, positions, motion, looks and the background are drawn without
it; then the faces' valences conditioned on the class by the group rule of SynthGroups
(:func:`vemd.synth.group.sample_group_valences`: the mean valence with a ±0.35 band, the largest
face disagreeing with the group in a quarter of the scenes), and for each valence a sequence of
that class among the split's faces (distinct sequences within a scene while there are enough),
then one face of it.

Geometry: each face has a similarity transform per frame from its pixels to the frame's: its
centre, side and angle move linearly over the clip, and the background pans. Faces are drawn back
to front, smaller (farther) first, each through a feathered ellipse so that no crop edge shows;
a nearer face hides those behind it. The face's 68 points go through the same transform: a point
is visible when it is inside the frame and no nearer face covers it
(:func:`vemd.synth.occlusion.unoccluded`); a face with no visible point is left out of the frame's
annotation. Grey faces (CK+) are tinted with a skin tone drawn between a light and a dark one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from vemd.structure.annotations import FrameAnnotation, Person
from vemd.structure.skeleton import IBUG68_FLIP
from vemd.synth.background import draw_background
from vemd.synth.face_folder import SourceFace
from vemd.synth.group import CLASS_NAMES, sample_group_valences
from vemd.synth.occlusion import unoccluded

_LIGHT_SKIN, _DARK_SKIN = np.array([0.72, 0.84, 1.0]), np.array([0.45, 0.58, 0.85])  # BGR gains
_MAX_OVERLAP = 0.3  # share of a smaller face's box a new face may cover when it is placed
_ATTEMPTS = 30  # positions tried per face before keeping the least overlapping one


@dataclass(frozen=True)
class Placement:
    """One face in a clip: which, mirrored or not, its look and its pose (centre x, y, side, angle in
    degrees; frame pixels) at the first and last frame."""

    face: SourceFace
    flip: bool
    tint: tuple[float, float, float]
    contrast: float
    brightness: float
    start: tuple[float, float, float, float]
    end: tuple[float, float, float, float]


@dataclass(frozen=True)
class Composite:
    """A sampled clip, ready to render: class name, faces back to front, background and its pan."""

    label: str
    faces: tuple[Placement, ...]
    background: int | str  # a seed for a drawn background, or the path of a background image
    crop: tuple[float, float, float]  # x, y, side of the background image's square crop (fractions)
    pan: tuple[float, float, float, float]  # window offset (x, y) at the first and last frame, pixels
    image_size: int
    frames: int

    @property
    def margin(self) -> int:
        return round(0.06 * self.image_size)


def sample_composite(
    rng: np.random.Generator,
    label: str,
    sequences: dict[int, list[list[SourceFace]]],
    *,
    image_size: int,
    frames: int,
    max_people: int,
    backgrounds: tuple[str, ...] = (),
) -> Composite:
    """Draw a clip of class ``label``; ``sequences[v]`` are the split's sequences of valence v."""
    s = image_size
    n = int(rng.integers(2, max_people + 1))
    largest = min(0.42, 0.95 / math.sqrt(n)) * s
    sides = np.sort(np.exp(rng.uniform(np.log(min(0.1 * s, 0.6 * largest)), np.log(largest), n)))
    centres = _positions(rng, sides, s)
    motion = rng.uniform(-1, 1, (n, 5))
    looks = rng.random((n, 5))
    valences = sample_group_valences(rng, CLASS_NAMES.index(label), n, largest=n - 1)
    faces = _pick_faces(rng, valences, sequences)
    placements = []
    for i, face in enumerate(faces):
        (x, y), side, (dx, dy, grow, angle, turn) = centres[i], sides[i], motion[i]
        start = (x, y, side, 12 * angle)
        end = (x + 0.06 * s * dx, y + 0.06 * s * dy, side * math.exp(0.12 * grow), 12 * angle + 8 * turn)
        tint = _LIGHT_SKIN + 0.7 * looks[i, 0] * (_DARK_SKIN - _LIGHT_SKIN)
        placements.append(
            Placement(
                face,
                bool(looks[i, 1] < 0.5),
                tuple(float(c) for c in tint),
                0.85 + 0.3 * float(looks[i, 2]),
                30 * float(looks[i, 3]) - 15,
                start,
                end,
            )
        )
    if backgrounds:
        background = backgrounds[int(rng.integers(len(backgrounds)))]
        side = rng.uniform(0.6, 1.0)
        crop = (float(rng.uniform(0, 1 - side)), float(rng.uniform(0, 1 - side)), float(side))
    else:
        background, crop = int(rng.integers(2**31)), (0.0, 0.0, 1.0)
    margin = round(0.06 * s)
    pan = tuple(float(v) for v in rng.uniform(0, 2 * margin, 4))
    return Composite(label, tuple(placements), background, crop, pan, image_size, frames)


def _positions(rng: np.random.Generator, sides: np.ndarray, size: int) -> list[tuple[float, float]]:
    """Face centres, largest placed first, each covering at most :data:`_MAX_OVERLAP` of a placed face."""
    boxes: dict[int, np.ndarray] = {}
    for i in np.argsort(-sides, kind="stable"):
        half = sides[i] / 2
        best, best_cover = None, math.inf
        for _ in range(_ATTEMPTS):
            x, y = rng.uniform(half, size - half, 2)
            box = np.array([x - half, y - half, x + half, y + half])
            cover = max((_covered(box, other) for other in boxes.values()), default=0.0)
            if cover < best_cover:
                best, best_cover = box, cover
            if cover <= _MAX_OVERLAP:
                break
        boxes[int(i)] = best
    return [tuple(float(v) for v in (boxes[i][:2] + boxes[i][2:]) / 2) for i in range(len(sides))]


def _covered(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of boxes a and b (x0, y0, x1, y1) over the smaller one's area."""
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    return float(inter / min(np.prod(a[2:] - a[:2]), np.prod(b[2:] - b[:2])))


def _pick_faces(
    rng: np.random.Generator, valences: np.ndarray, sequences: dict[int, list[list[SourceFace]]]
) -> list[SourceFace]:
    """A face for each valence: from a sequence not yet in the scene while there is one."""
    used: set[tuple[int, int]] = set()
    faces = []
    for v in valences.tolist():
        pool = sequences[v]
        free = [j for j in range(len(pool)) if (v, j) not in used] or list(range(len(pool)))
        j = free[int(rng.integers(len(free)))]
        used.add((v, j))
        faces.append(pool[j][int(rng.integers(len(pool[j])))])
    return faces


def face_matrix(placement: Placement, t: int, frames: int, source_size: tuple[int, int]) -> np.ndarray:
    """(2, 3) affine map from the (mirrored, if flipped) source face's pixels to frame pixels at frame t."""
    w = t / (frames - 1) if frames > 1 else 0.0
    (x0, y0, s0, a0), (x1, y1, s1, a1) = placement.start, placement.end
    x, y, angle = x0 + w * (x1 - x0), y0 + w * (y1 - y0), a0 + w * (a1 - a0)
    side = s0 * (s1 / s0) ** w
    height, width = source_size
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, side / max(height, width))
    matrix[:, 2] += (x - (width - 1) / 2, y - (height - 1) / 2)
    return matrix


def render_composite(
    composite: Composite,
    read_image: Callable[[str], np.ndarray],
    read_face: Callable[[SourceFace], np.ndarray],
) -> list[tuple[np.ndarray, FrameAnnotation]]:
    """T pairs of (frame (S, S, 3) uint8 BGR, annotation of that frame: a face per visible face)."""
    s, margin = composite.image_size, composite.margin
    canvas = _background(composite, read_image, s + 2 * margin)
    looks = [_look(p, read_face(p.face)) for p in composite.faces]
    out = []
    for t in range(composite.frames):
        w = t / (composite.frames - 1) if composite.frames > 1 else 0.0
        x0, y0, x1, y1 = composite.pan
        shift = np.array([[1.0, 0.0, -(x0 + w * (x1 - x0))], [0.0, 1.0, -(y0 + w * (y1 - y0))]])
        frame = cv2.warpAffine(canvas, shift, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        ids = np.zeros((s, s), np.uint8)  # 0 background, i for the i-th face drawn (back to front)
        matrices = []
        for i, (placement, (image, mask, _)) in enumerate(zip(composite.faces, looks), start=1):
            matrix = face_matrix(placement, t, composite.frames, image.shape[:2])
            alpha = cv2.warpAffine(mask, matrix, (s, s), flags=cv2.INTER_LINEAR)[..., None]
            face = cv2.warpAffine(image, matrix, (s, s), flags=cv2.INTER_LINEAR)
            frame = frame * (1 - alpha) + face * alpha
            ids[alpha[..., 0] > 0.5] = i
            matrices.append(matrix)
        persons = []
        for i, ((_, _, points), matrix) in enumerate(zip(looks, matrices), start=1):
            xy = points @ matrix[:, :2].T + matrix[:, 2]
            visible = unoccluded(ids, xy, i)
            if visible.any():
                persons.append(Person(face=np.concatenate([xy, visible[:, None]], axis=1)))
        out.append((np.clip(frame + 0.5, 0, 255).astype(np.uint8), FrameAnnotation(s, s, persons)))
    return out


def _background(composite: Composite, read_image: Callable[[str], np.ndarray], side: int) -> np.ndarray:
    """(side, side, 3) float32 background: drawn from its seed, or the square crop of its image."""
    if isinstance(composite.background, int):
        return draw_background(np.random.default_rng(composite.background), side).astype(np.float32)
    image = read_image(composite.background)
    height, width = image.shape[:2]
    x, y, fraction = composite.crop
    short = min(height, width)
    crop_side = max(1, round(fraction * short))
    left, top = round(x * short + (width - short) / 2), round(y * short + (height - short) / 2)
    crop = image[top : top + crop_side, left : left + crop_side]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)


def _look(placement: Placement, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face as drawn (float32 BGR, mirrored if flipped, tinted if grey, contrast and brightness),
    its feathered elliptic mask (H, W) in [0, 1] and its (68, 2) points in the same pixels."""
    height, width = image.shape[:2]
    points = placement.face.points.astype(np.float64)
    if placement.flip:
        image = image[:, ::-1]
        points = np.stack([width - 1 - points[:, 0], points[:, 1]], axis=1)[list(IBUG68_FLIP)]
    face = image.astype(np.float32)
    if np.ptp(image.reshape(-1, 3).astype(np.int16), axis=1).max() <= 2:  # grey: tint with skin
        face = face * np.asarray(placement.tint, np.float32)
    mean = face.mean(axis=(0, 1))
    face = np.clip((face - mean) * placement.contrast + mean + placement.brightness, 0, 255)
    mask = np.zeros((height, width), np.float32)
    centre = ((width - 1) / 2, (height - 1) / 2)
    cv2.ellipse(mask, (centre, (0.9 * width, 0.98 * height), 0.0), 1.0, -1, cv2.LINE_AA)
    feather = 0.06 * max(height, width)
    mask = cv2.GaussianBlur(mask, (0, 0), feather) * (mask > 0)
    mask = np.clip(mask / max(mask.max(), 1e-6) * 1.6, 0, 1)
    return face, mask, points
