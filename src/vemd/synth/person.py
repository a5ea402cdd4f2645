"""One drawn person: a COCO-17 body with thick limbs and a 68-point face.

A person is a :class:`PersonSpec` (where, how large, which valence, which look) posed per
frame by :func:`pose_person` into keypoints and drawn by :func:`draw_person`. Valence
shows only through structure: the face (:mod:`vemd.synth.face`) and the posture —
positive: arms raised (V or cheering); neutral: arms down; negative: arms crossed or
head dropped with hands together. Colours are drawn from label-free distributions.

Body proportions are in units of the face height ``size`` (cartoon-like, ~4.6 faces tall)
so that expression and posture stay readable on small people.

A recurring person (``vemd synth --identities``, :mod:`vemd.synth.identity`) keeps a
:class:`~vemd.synth.face.FaceShape` and a :class:`BodyShape` (shoulder width, torso, leg and
arm lengths, limb thickness) across scenes; everyone else has the neutral shapes, which
leave the common geometry as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vemd.synth.face import (
    NEUTRAL_FACE,
    ONE,
    SHIFT,
    Expression,
    FacePalette,
    FaceShape,
    draw_face,
    face_landmarks,
)

# Arm keyframes (upper-arm angle, forearm angle) in degrees from straight down, positive
# turning away from the body. One list of variants per valence (-1, 0, +1).
_ARMS = {
    -1: ((-4.0, -88.0), (4.0, -28.0)),  # crossed over the chest; hanging with hands together
    0: ((12.0, 6.0), (18.0, 10.0)),
    1: ((140.0, 158.0), (100.0, 172.0)),  # V; cheering with bent elbows
}
_HEAD_DROP = {-1: (0.0, 0.32), 0: (0.0, 0.0), 1: (0.0, 0.0)}  # head lowering per variant, face units


HAIR_STYLES = 5  # 0 short cap, 1 long (covers the ears' level), 2 curly volume, 3 bald, 4 bun


@dataclass(frozen=True)
class Look:
    """Label-free appearance: BGR colours and a hair style (random scenes draw styles 0 and 1)."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    face: FacePalette
    hair_style: int  # one of HAIR_STYLES


@dataclass(frozen=True)
class BodyShape:
    """A person's body proportions: multipliers of the common ones (1 = unchanged)."""

    shoulders: float = 1.0  # shoulder width (the hips follow halfway)
    torso: float = 1.0  # neck to hips
    legs: float = 1.0  # hips to ankles
    arms: float = 1.0  # upper arm and forearm lengths
    build: float = 1.0  # limb and outline thickness


NEUTRAL_BODY = BodyShape()


@dataclass(frozen=True)
class PersonSpec:
    """A person of a clip. Positions are the head centre at frame 0, in canvas pixels."""

    x: float
    y: float
    size: float  # face height in pixels
    valence: int  # -1, 0, +1
    intensity: float  # strength of the expression and posture, in (0, 1]
    variant: int  # which posture of the valence (index into the keyframes)
    opening: float  # mouth opening when the expression shows (talking, grinning, grimacing)
    active: tuple[bool, ...]  # per frame: does the expression show
    sway: tuple[float, float, float]  # (phase, amplitude in face units, drift in face units per frame)
    jitter: tuple[float, float, float, float]  # arm angle offsets (degrees), left/right upper/fore
    look: Look
    face_shape: FaceShape = NEUTRAL_FACE
    body_shape: BodyShape = NEUTRAL_BODY
    identity: str | None = None  # name of the recurring person shown (vemd.synth.identity), if any


@dataclass(frozen=True)
class Pose:
    """Keypoints of one person in one frame: body (17, 2), face (68, 2), canvas pixels; head roll in degrees.

    ``head_width`` and ``build`` scale the drawn head's width and the limbs' thickness (the person's shapes).
    """

    body: np.ndarray
    face: np.ndarray
    size: float
    tilt: float
    head_width: float = 1.0
    build: float = 1.0

    def shifted(self, dx: float, dy: float) -> Pose:
        return replace(self, body=self.body + (dx, dy), face=self.face + (dx, dy))


# Joints 5..16 relative to the neck, in face units; the arm rows (7..10) are replaced per pose.
_TRUNK = np.array(
    [[0.9, 0.05], [-0.9, 0.05], [0, 0], [0, 0], [0, 0], [0, 0],
     [0.5, 1.75], [-0.5, 1.75], [0.62, 3.1], [-0.62, 3.1], [0.66, 4.4], [-0.66, 4.4]]
)  # fmt: skip
_EARS = np.array([[0.45, -0.1], [-0.45, -0.1]])


def _trunk(shape: BodyShape) -> np.ndarray:
    """Joints 5..16 of :data:`_TRUNK` with the proportions of ``shape`` (the table itself when neutral)."""
    if shape == NEUTRAL_BODY:
        return _TRUNK
    trunk = _TRUNK.copy()
    trunk[0:2, 0] *= shape.shoulders
    trunk[6:8, 0] *= 0.5 + 0.5 * shape.shoulders
    trunk[8:12, 0] += np.tile(trunk[6:8, 0] - _TRUNK[6:8, 0], 2)  # knees and ankles below the hips
    hip = _TRUNK[6, 1] * shape.torso
    trunk[6:8, 1] = hip
    trunk[8:12, 1] = hip + (_TRUNK[8:12, 1] - _TRUNK[6, 1]) * shape.legs
    return trunk


def expression_amount(spec: PersonSpec, t: int) -> float:
    """How strongly the expression and posture show at frame ``t``: the intensity while active, else 0."""
    return spec.intensity if spec.active[t] else 0.0


def head_centre(spec: PersonSpec, t: int) -> tuple[float, float]:
    """(x, y) canvas pixels of the head centre at frame ``t``: the position, swayed and drifted."""
    h = spec.size
    phase, amplitude, drift = spec.sway
    head_x = spec.x + h * (amplitude * math.sin(phase + 1.3 * t) + drift * t)
    head_y = spec.y + h * 0.5 * amplitude * math.cos(phase + 1.1 * t)
    return head_x, head_y


def expression_at(spec: PersonSpec, t: int) -> Expression:
    """The face parameters of ``spec`` at frame ``t`` (the valence's, scaled by :func:`expression_amount`)."""
    amount = expression_amount(spec, t)
    v = spec.valence if amount > 0 else 0
    return Expression(
        curve=0.95 * v * amount,
        opening=spec.opening if amount > 0 else 0.15 * spec.opening,
        brow=0.9 * v * amount,
        eyes=1.0 - 0.45 * (v < 0) * amount - 0.15 * (v > 0) * amount,
    )


def pose_person(spec: PersonSpec, t: int) -> Pose:
    """Keypoints of ``spec`` at frame ``t`` (sway, drift and the expression's on/off state)."""
    h = spec.size
    amount = expression_amount(spec, t)
    v = spec.valence if amount > 0 else 0
    variant = spec.variant % 2
    phase, amplitude, _ = spec.sway
    head_x, head_y = head_centre(spec, t)
    tilt = math.radians(40.0 * amplitude * math.sin(phase + 0.7 * t) + 8.0 * (v < 0) * variant)
    drop = _HEAD_DROP[spec.valence][variant] * amount

    body = np.empty((17, 2))
    body[5:] = _trunk(spec.body_shape) * h + (head_x, head_y + (0.95 - drop) * h)
    arm = h * spec.body_shape.arms
    rest = _ARMS[0][variant]
    target = _ARMS[v][variant]
    for k, (shoulder, elbow, wrist, side) in enumerate(((5, 7, 9, 1.0), (6, 8, 10, -1.0))):
        upper = rest[0] + amount * (target[0] - rest[0]) + spec.jitter[2 * k]
        fore = rest[1] + amount * (target[1] - rest[1]) + spec.jitter[2 * k + 1]
        if v < 0 and variant == 0 and k == 1:
            fore += 12.0 * amount  # crossed forearms at two heights
        ex = body[shoulder, 0] + side * arm * math.sin(math.radians(upper))
        ey = body[shoulder, 1] + arm * math.cos(math.radians(upper))
        body[elbow] = ex, ey
        body[wrist] = (
            ex + side * 0.95 * arm * math.sin(math.radians(fore)),
            ey + 0.95 * arm * math.cos(math.radians(fore)),
        )

    e = expression_at(spec, t)
    cos, sin = math.cos(tilt) * h, math.sin(tilt) * h
    rot = np.array([[cos, sin], [-sin, cos]])
    face = face_landmarks(e, spec.face_shape) @ rot + (head_x, head_y)
    body[0] = face[30]
    body[1] = face[42:48].sum(axis=0) / 6
    body[2] = face[36:42].sum(axis=0) / 6
    jaw = spec.face_shape.jaw
    body[3:5] = _EARS * (jaw, 1.0) @ rot + (head_x, head_y)
    return Pose(body, face, h, math.degrees(tilt), head_width=jaw, build=spec.body_shape.build)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * ONE).astype(np.int32)


def draw_silhouette(ids: np.ndarray, pose: Pose, look: Look, person_id: int) -> None:
    """Paint the figure of one posed person as value ``person_id`` into the id map ``ids`` (H, W) uint8."""
    h, b = pose.size, _fixed(pose.body)
    limbs = [b[[15, 13, 11]], b[[16, 14, 12]], b[[9, 7, 5]], b[[10, 8, 6]], _fixed(pose.face[[8, 27]])]
    cv2.polylines(ids, limbs, False, person_id, max(1, round(0.3 * h * pose.build)), cv2.LINE_8, SHIFT)
    cv2.fillPoly(ids, [b[[5, 6, 12, 11]]], person_id, cv2.LINE_8, SHIFT)
    _draw_head(ids, pose, look.hair_style, person_id, person_id, cv2.LINE_8)


def _draw_head(image: np.ndarray, pose: Pose, hair_style: int, skin, hair, mode: int) -> None:
    """Hair behind the head (long, curly), the head ellipse, then the hair cap (not bald) or a bun."""
    h, face = pose.size, pose.face
    centre = tuple(_fixed(face[27:31].sum(axis=0) / 4).tolist())
    top = tuple(_fixed(face[27] + (face[27] - face[8]) * 0.18).tolist())
    axes = (round(0.5 * h * pose.head_width * ONE), round(0.62 * h * ONE))
    if hair_style == 1:
        long_axes = (axes[0] + round(0.1 * h * ONE), axes[1])
        cv2.ellipse(image, top, long_axes, pose.tilt, 0, 360, hair, -1, mode, SHIFT)
    elif hair_style == 2:
        curly_axes = (axes[0] + round(0.16 * h * ONE), round(0.58 * h * ONE))
        cv2.ellipse(image, top, curly_axes, pose.tilt, 0, 360, hair, -1, mode, SHIFT)
    cv2.ellipse(image, centre, axes, pose.tilt, 0, 360, skin, -1, mode, SHIFT)
    if hair_style != 3:
        cv2.ellipse(image, top, (axes[0], round(0.45 * h * ONE)), pose.tilt, 180, 360, hair, -1, mode, SHIFT)
    if hair_style == 4:
        bun = tuple(_fixed(face[27] + (face[27] - face[8]) * 0.95).tolist())
        cv2.circle(image, bun, round(0.2 * h * ONE), hair, -1, mode, SHIFT)


def draw_person(canvas: np.ndarray, pose: Pose, look: Look) -> None:
    """Draw one posed person in colour on ``canvas`` (H, W, 3) uint8 BGR: legs, torso, head, face, arms."""
    h, b, face = pose.size, _fixed(pose.body), pose.face
    leg, arm, fore = (max(1, round(f * h * pose.build)) for f in (0.34, 0.27, 0.24))
    aa = cv2.LINE_AA
    neck = _fixed((pose.body[5] + pose.body[6]) / 2)
    torso = b[[5, 6, 12, 11]]

    cv2.polylines(canvas, [b[[11, 13, 15]], b[[12, 14, 16]]], False, look.pants, leg, aa, SHIFT)
    cv2.fillPoly(canvas, [torso], look.shirt, aa, SHIFT)
    cv2.polylines(canvas, [torso], True, look.shirt, arm, aa, SHIFT)
    cv2.polylines(canvas, [np.stack([neck, _fixed(face[8])]), b[[3, 4]]], False, look.skin, fore, aa, SHIFT)
    _draw_head(canvas, pose, look.hair_style, look.skin, look.hair, aa)
    draw_face(canvas, face, h, look.face)
    cv2.polylines(canvas, [b[[5, 7]], b[[6, 8]]], False, look.shirt, arm, aa, SHIFT)
    cv2.polylines(canvas, [b[[7, 9]], b[[8, 10]]], False, look.skin, fore, aa, SHIFT)
