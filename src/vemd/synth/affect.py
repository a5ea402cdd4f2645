"""Continuous valence and arousal of a SynthGroups clip (``vemd synth --va``), read off the drawing.

Every target is a function of quantities the frames show; nothing is drawn for it, so a
clip's pixels, annotations and class are the same with or without ``--va``. For person i
(face height h_i) at frame t of T:

* expressed valence ``e_i(t) = v_i · amount_i(t)`` in [-1, 1]: the individual valence
  v_i ∈ {-1, 0, +1} scaled by how strongly the expression shows (the intensity in
  [0.75, 1] while the person is active, 0 while not;
  :func:`vemd.synth.person.expression_amount`). It is what the face draws: mouth curve
  0.95 · e_i, brow 0.9 · e_i, and the posture's share of the way to its keyframe.
* mouth opening ``m_i(t)`` in [0, 1]: the drawn lip gap (:func:`vemd.synth.person.expression_at`;
  label-free: closed for half the people, else in [0.2, 1]; 0.15 of that while inactive).
* head motion ``d_i(t) = ‖c_i(u) - c_i(u - 1)‖ / h_i`` with u = max(t, 1): how far the head
  centre c_i (canvas pixels, :func:`vemd.synth.person.head_centre`; the camera is not the
  person's motion) moved since the previous frame, in face heights; frame 0 takes frame 1's
  move, and a single frame (T = 1) shows none, d = 0. Sway and drift give a median of
  0.07, 90 % below 0.16, none above 0.29.
* arousal ``a_i(t) = m_i(t) + min(d_i(t) / FULL_MOTION, 1) - 1`` in [-1, 1]: a still
  closed-mouthed face is -1, a wide-open mouth on a head moving FULL_MOTION or more is +1.

A frame's targets are the means over the people weighted by what of their face the frame
shows, w_i(t) = share of their 68 face points unoccluded and inside the frame (the exact
annotation's face visibility, :func:`vemd.synth.render.render_frames`)::

    valence(t) = Σ_i w_i(t) e_i(t) / Σ_i w_i(t)        arousal(t) = Σ_i w_i(t) a_i(t) / Σ_i w_i(t)

rounded to 4 decimals (the precision of the ``va/<clip_id>.txt`` files), and NaN (written -5,
"not annotated", as in AffWild2) in a frame that shows no face point at all. The clip's
valence and arousal (manifest columns) are the means of its frame values, NaN frames left out.

Valence follows the group's class (the class is the balance of the v_i,
:mod:`vemd.synth.group`) and varies within a class with the intensities, the active frames
and the faces' visibility; arousal nearly label-free (only a non-neutral person can be
inactive, with a mouth at 0.15 of its opening: the class means differ by ~0.05). With ``--audio`` both describe the people
drawn, not the sound.
"""

from __future__ import annotations

import math

import numpy as np

from vemd.synth.person import PersonSpec, expression_amount, expression_at, head_centre
from vemd.synth.scene import Scene

FULL_MOTION = 0.15  # head move per frame (face heights) that counts as full: ~ the 90th centile
DECIMALS = 4


def person_affect(spec: PersonSpec, t: int, frames: int) -> tuple[float, float]:
    """(e_i(t), a_i(t)) of one person at frame ``t`` of a ``frames``-frame clip (module docstring)."""
    valence = spec.valence * expression_amount(spec, t)
    motion = 0.0
    if frames > 1:
        u = max(t, 1)
        (x0, y0), (x1, y1) = head_centre(spec, u - 1), head_centre(spec, u)
        motion = math.hypot(x1 - x0, y1 - y0) / spec.size
    arousal = expression_at(spec, t).opening + min(motion / FULL_MOTION, 1.0) - 1.0
    return valence, arousal


def clip_affect(scene: Scene, face_shares: np.ndarray) -> np.ndarray:
    """(T, 2) valence, arousal of each frame; ``face_shares`` (T, N) are the weights w_i(t).

    NaN in a frame whose weights are all 0.
    """
    frames = scene.options.frames
    if face_shares.shape != (frames, len(scene.people)):
        raise ValueError(
            f"face_shares must be (T, N) = ({frames}, {len(scene.people)}), got {face_shares.shape}"
        )
    out = np.full((frames, 2), np.nan)
    for t in range(frames):
        weights = face_shares[t]
        if weights.sum() <= 0:
            continue
        values = np.array([person_affect(p, t, frames) for p in scene.people])  # (N, 2)
        out[t] = np.round(weights @ values / weights.sum(), DECIMALS)
    return out


def clip_means(values: np.ndarray) -> tuple[float | None, float | None]:
    """(valence, arousal) of a clip: the means of its frame values (T, 2), NaN frames left out; None if all are."""
    means = []
    for column in np.asarray(values, dtype=np.float64).T:
        kept = column[np.isfinite(column)]
        means.append(round(float(kept.mean()), DECIMALS) if kept.size else None)
    return means[0], means[1]
