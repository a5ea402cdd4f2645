"""A drawn face on the 68-point iBUG geometry, with its expression as parameters.

Landmarks are built in face units (face height 1, origin near the nose tip, x to the
image right, y down) in iBUG order: 0-16 jaw (image left to right), 17-21 / 22-26 brows,
27-30 nose bridge, 31-35 lower nose, 36-41 / 42-47 eyes, 48-59 outer lips, 60-67 inner
lips. The expression lives only in the geometry: mouth curve and opening, brow raise or
frown, eye opening. Exaggerated on purpose so that it stays legible on ~20 px faces.

A person's own face (``vemd synth --identities``) is a :class:`FaceShape`: an affine map per
feature (jaw width, eye spacing and size, nose length, mouth width, brow height) applied to
the expressed geometry. Being affine, it maps the neutral face to the person's neutral face
and each expression's displacement to the same displacement at the person's scale (a wide
mouth smiles wide), so every expression reads the same on every face. The neutral shape
leaves the landmarks untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SHIFT = 4  # sub-pixel bits of the OpenCV drawing calls
ONE = 1 << SHIFT

_JAW_PHI = np.linspace(0.0, np.pi, 17)
_JAW = np.stack([-0.44 * np.cos(_JAW_PHI), -0.15 + 0.62 * np.sin(_JAW_PHI)], axis=1)
_BROW_U = np.linspace(0.0, 1.0, 5)  # 0 at the outer end, 1 at the inner end
_NOSE = np.array(
    [
        [0, -0.2],
        [0, -0.12],
        [0, -0.05],
        [0, 0.02],
        [-0.08, 0.07],
        [-0.04, 0.085],
        [0, 0.095],
        [0.04, 0.085],
        [0.08, 0.07],
    ]
)
_EYE_X = np.array([-0.28, -0.23, -0.17, -0.12, -0.17, -0.23])  # 36..41 (image-left eye)
_EYE_Y = np.array([0.0, -1.0, -1.0, 0.0, 1.0, 1.0])
_OUTER_U = np.array([-1, -0.66, -0.33, 0, 0.33, 0.66, 1, 0.66, 0.33, 0, -0.33, -0.66])
_OUTER_SIDE = np.array([0, -1, -1, -1, -1, -1, 0, 1, 1, 1, 1, 1])  # -1 upper lip, +1 lower lip
_INNER_U = np.array([-0.9, -0.45, 0, 0.45, 0.9, 0.45, 0, -0.45])
_INNER_SIDE = np.array([0, -1, -1, -1, 0, 1, 1, 1])


@dataclass(frozen=True)
class Expression:
    """Face geometry parameters, each roughly in [-1, 1] (curve, brow) or [0, 1] (opening, eyes)."""

    curve: float  # +1 corners up (smile), -1 corners down (frown)
    opening: float  # 0 closed lips, 1 wide open mouth
    brow: float  # +1 raised, -1 inner ends pulled down (frown)
    eyes: float  # eye opening, 1 = wide


def _features(e: Expression) -> np.ndarray:
    """(6,) coefficients in which the geometry is affine."""
    return np.array([max(e.brow, 0.0), max(-e.brow, 0.0), e.curve, max(e.curve, 0.0), e.opening, e.eyes])


def _geometry(e: Expression) -> np.ndarray:
    """(68, 2) landmarks built point by point (the definition; see :func:`face_landmarks`)."""
    pts = np.empty((68, 2))
    pts[0:17] = _JAW
    raise_ = 0.06 * max(e.brow, 0.0)
    frown = 0.11 * max(-e.brow, 0.0)
    brow_x = -0.37 + 0.29 * _BROW_U
    brow_y = -0.31 - 0.04 * np.sin(np.pi * _BROW_U) - raise_ + frown * (_BROW_U - 0.3)
    pts[17:22] = np.stack([brow_x, brow_y], axis=1)
    pts[22:27] = pts[21:16:-1] * [-1, 1]
    pts[27:36] = _NOSE
    half_height = 0.05 * e.eyes
    pts[36:42] = np.stack([_EYE_X, -0.17 + half_height * _EYE_Y], axis=1)
    pts[42:48] = pts[[39, 38, 37, 36, 41, 40]] * [-1, 1]
    pts[48:60] = _mouth(e, _OUTER_U, _OUTER_SIDE, lips=True)
    pts[60:68] = _mouth(e, _INNER_U, _INNER_SIDE, lips=False)
    return pts


def _mouth(e: Expression, u: np.ndarray, side: np.ndarray, lips: bool) -> np.ndarray:
    half_width = 0.19 + 0.03 * max(e.curve, 0.0)
    bend = 0.14 * e.curve  # corner height above the mouth centre
    mid = 0.26 - bend * u**2 + bend / 2
    shape = 1.0 - u**2
    gap = 0.09 * e.opening * shape
    thickness = np.where(side < 0, 0.035, 0.045) * shape if lips else 0.0
    y = mid + side * (gap + thickness)
    return np.stack([half_width * u, y], axis=1)


_NEUTRAL = Expression(0.0, 0.0, 0.0, 0.0)
_BASE = _geometry(_NEUTRAL)
_FIELDS = np.stack(
    [
        _geometry(Expression(0.0, 0.0, 1.0, 0.0)) - _BASE,
        _geometry(Expression(0.0, 0.0, -1.0, 0.0)) - _BASE,
        _geometry(Expression(-1.0, 0.0, 0.0, 0.0)) - _BASE,  # curve, minus the max(curve, 0) part
        _geometry(Expression(1.0, 0.0, 0.0, 0.0)) + _geometry(Expression(-1.0, 0.0, 0.0, 0.0)) - 2 * _BASE,
        _geometry(Expression(0.0, 1.0, 0.0, 0.0)) - _BASE,
        _geometry(Expression(0.0, 0.0, 0.0, 1.0)) - _BASE,
    ]
).reshape(6, -1)
_FIELDS[2] *= -1


@dataclass(frozen=True)
class FaceShape:
    """A person's face geometry: multipliers (1 = the common face) and one offset (0 = none)."""

    jaw: float = 1.0  # jaw width (and the head's)
    eye_spacing: float = 1.0  # distance between the eye centres
    eye_size: float = 1.0  # eye width and opening
    nose: float = 1.0  # nose length, from the top of the bridge
    mouth: float = 1.0  # mouth width
    brow: float = 0.0  # brow height above the common one, face units


NEUTRAL_FACE = FaceShape()
_EYE_CENTRE = np.array([(_EYE_X.max() + _EYE_X.min()) / 2, -0.17])  # image-left eye
_NOSE_TOP = _NOSE[0, 1]


@lru_cache(maxsize=4096)
def _shape_map(shape: FaceShape) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) scale and (68, 2) offset of the affine map of ``shape`` (landmark · scale + offset)."""
    scale, offset = np.ones((68, 2)), np.zeros((68, 2))
    scale[0:17, 0] = shape.jaw
    scale[31:36, 0] = math.sqrt(shape.nose)  # a longer nose is a little wider too
    scale[27:36, 1] = shape.nose
    offset[27:36, 1] = _NOSE_TOP * (1.0 - shape.nose)
    scale[48:68, 0] = shape.mouth
    # eyes: scaled about their centres (cx, cy), the centres moved to (cx · eye_spacing, cy)
    cx = np.repeat([_EYE_CENTRE[0], -_EYE_CENTRE[0]], 6)
    scale[36:48] = shape.eye_size
    offset[36:48, 0] = cx * (shape.eye_spacing - shape.eye_size)
    offset[36:48, 1] = _EYE_CENTRE[1] * (1.0 - shape.eye_size)
    # brows: moved with their eye, raised by ``brow``
    offset[17:27, 0] = np.repeat([_EYE_CENTRE[0], -_EYE_CENTRE[0]], 5) * (shape.eye_spacing - 1.0)
    offset[17:27, 1] = -shape.brow
    return scale, offset


def face_landmarks(e: Expression, shape: FaceShape = NEUTRAL_FACE) -> np.ndarray:
    """(68, 2) landmarks of one frontal face in face units (the geometry is affine in :func:`_features`).

    ``shape`` (a person's own face) maps the expressed landmarks; the neutral shape returns them as they are.
    """
    points = _BASE + (_features(e) @ _FIELDS).reshape(68, 2)
    if shape == NEUTRAL_FACE:
        return points
    scale, offset = _shape_map(shape)
    return points * scale + offset


@dataclass(frozen=True)
class FacePalette:
    """BGR colours of the face features (random, label-free)."""

    skin: tuple[int, int, int]
    features: tuple[int, int, int]  # brows, eyes
    lips: tuple[int, int, int]
    shade: tuple[int, int, int]  # nose line


def draw_face(canvas: np.ndarray, pts: np.ndarray, size: float, palette: FacePalette) -> None:
    """Draw brows, eyes, nose and mouth of landmarks ``pts`` (68, 2) in canvas pixels; ``size`` = face height."""
    fixed = np.round(pts * ONE).astype(np.int32)
    width = max(1, round(0.06 * size))
    aa = cv2.LINE_AA
    cv2.polylines(canvas, [fixed[17:22], fixed[22:27]], False, palette.features, width, aa, SHIFT)
    if size >= 14:
        cv2.polylines(
            canvas, [fixed[27:31], fixed[31:36]], False, palette.shade, max(1, width - 1), aa, SHIFT
        )
    cv2.fillPoly(canvas, [fixed[36:42], fixed[42:48]], palette.features, aa, SHIFT)
    cv2.polylines(canvas, [fixed[36:42], fixed[42:48]], True, palette.features, 1, aa, SHIFT)
    cv2.fillPoly(canvas, [fixed[48:60]], palette.lips, aa, SHIFT)
    cv2.fillPoly(canvas, [fixed[60:68]], (20, 15, 25), aa, SHIFT)
    cv2.polylines(canvas, [fixed[60:65]], False, (20, 15, 25), width, aa, SHIFT)
