"""Recurring people of a SynthGroups dataset (``vemd synth --identities K``), for privacy audits.

An :class:`Identity` is what stays the same from scene to scene: the look (skin, hair colour
and style, shirt and pants colours, face palette) and the geometry, a
:class:`~vemd.synth.face.FaceShape` (jaw width, eye spacing and size, nose length, mouth
width, brow height) and a :class:`~vemd.synth.person.BodyShape` (shoulder width, torso, leg
and arm lengths, build). Expression, posture, size, position and motion belong to the scene.

The K identities of a dataset, named ``p000``, ``p001``, ..., are drawn from their own seeds,
``SeedSequence([seed, IDENTITY_STREAM, k])``: stream 3 is none of the splits' (0..2), so they
are the same whatever the split sizes, and a dataset without identities draws nothing here.
The trait ranges are wide enough to tell people apart at face heights of ~30 px, and narrow
enough that the expressions read as on the common face (:mod:`vemd.synth.face`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from vemd.synth.face import FaceShape
from vemd.synth.person import HAIR_STYLES, BodyShape, Look
from vemd.synth.scene import sample_look

IDENTITY_STREAM = 3  # first word after the dataset seed; the splits use 0..2


@dataclass(frozen=True)
class Identity:
    """One recurring person: a name, a look and the face and body geometry it keeps in every scene."""

    name: str
    look: Look
    face: FaceShape
    body: BodyShape

    def traits(self) -> dict:
        """The :class:`~vemd.synth.person.PersonSpec` fields this identity fixes, besides the look."""
        return {"face_shape": self.face, "body_shape": self.body, "identity": self.name}


def identity_name(index: int) -> str:
    return f"p{index:03d}"


def sample_identity(rng: np.random.Generator, name: str) -> Identity:
    """Draw one identity: a look (any of the HAIR_STYLES), then uniform face and body traits."""
    look = replace(sample_look(rng), hair_style=int(rng.integers(HAIR_STYLES)))
    u = rng.random(11)
    face = FaceShape(
        jaw=0.86 + 0.28 * u[0],
        eye_spacing=0.85 + 0.3 * u[1],
        eye_size=0.75 + 0.55 * u[2],
        nose=0.8 + 0.45 * u[3],
        mouth=0.8 + 0.4 * u[4],
        brow=0.08 * u[5] - 0.04,
    )
    body = BodyShape(
        shoulders=0.8 + 0.4 * u[6],
        torso=0.85 + 0.3 * u[7],
        legs=0.85 + 0.35 * u[8],
        arms=0.9 + 0.2 * u[9],
        build=0.8 + 0.45 * u[10],
    )
    return Identity(name, look, face, body)


@lru_cache(maxsize=16)
def dataset_identities(seed: int, count: int) -> tuple[Identity, ...]:
    """The ``count`` identities of a dataset of seed ``seed``; identity k depends on (seed, k) only."""
    return tuple(
        sample_identity(
            np.random.default_rng(np.random.SeedSequence([seed, IDENTITY_STREAM, k])), identity_name(k)
        )
        for k in range(count)
    )
