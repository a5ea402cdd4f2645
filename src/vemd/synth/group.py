"""The group rule of SynthGroups: how individual valences make the scene label.

Every person has an individual valence v ∈ {-1, 0, +1} (negative, neutral, positive),
shown only through structure (mouth curve, brows, eyes, posture). The **group** label
(task ``ger``) is the balance of the whole group with a neutral band::

    s = mean(v_i)          Positive if s >= +BAND,  Negative if s <= -BAND,  else Neutral

with BAND = 0.35: one positive person among three neutral ones (s = 0.25) leaves the
group Neutral, two among four (s = 0.5) make it Positive. To make the label a property
of the group and not of its most visible member, in a fraction ``DISAGREE_RATE`` of the
scenes with two or more people the largest person's own valence differs from the group
label (a "label of the largest person" baseline therefore scores about 75 %).

For task ``ier`` the label is the valence of one dominant person; the others are random.

Sampling order keeps nuisance factors label-free: the class is drawn first, the number
of people independently of it, then valences conditioned on the class by rejection.

**Audio-visual rule** (``vemd synth --audio``, paper §7): the label needs both modalities.
Each clip draws its class y first, then a carrier, each with probability 1/2
(:data:`AUDIO_CARRIER_RATE`):

* *video* carrier: the drawn group shows y (as without audio); the audio affect
  a ∈ {-1, 0, +1} is drawn uniformly, independently of y;
* *audio* carrier: the drawn group is Neutral (a Neutral scene like any other) and the
  audio affect is y's valence, a = y - 1.

The sound that carries a is made by :mod:`vemd.synth.audio`. Bayes-optimal accuracies, with
the group's label g and the affect a read exactly and y uniform over three classes:

* video alone: g ≠ Neutral (probability 1/2 · 2/3 = 1/3) gives y = g; g = Neutral
  (probability 2/3) leaves P(y = Neutral | g) = (1/6 + 1/6) / (2/3) = 1/2, the best
  guess. Accuracy 1/3 + 2/3 · 1/2 = **2/3**.
* audio alone: P(y = k, a = k) = 1/2 · 1/9 + 1/2 · 1/3 = 2/9 out of P(a = k) = 1/3,
  so guessing y = a is right with probability **2/3**.
* both: g ≠ Neutral gives y (1/3); g = Neutral and a = k ≠ 0 is an audio-carried k
  (probability 1/6) against a video-carried Neutral (1/18), so guess k: 2 · 1/6; g and a
  both neutral are Neutral either way (1/6 + 1/18). Accuracy 1/3 + 1/3 + 2/9 = 8/9 ≈ **0.889**.
"""

from __future__ import annotations

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("Negative", "Neutral", "Positive")
BAND = 0.35
DISAGREE_RATE = 0.25
# Per-class proposal probabilities of (negative, neutral, positive) individuals.
_PROPOSALS = np.array([[0.62, 0.28, 0.10], [0.27, 0.46, 0.27], [0.10, 0.28, 0.62]])
_BATCH = 256
NEUTRAL = 1
AUDIO_CARRIER_RATE = 0.5  # share of --audio clips whose class is heard and not seen


def group_label(valences: np.ndarray) -> int:
    """Class index (0 Negative, 1 Neutral, 2 Positive) of a group of valences (N,) in {-1, 0, 1}."""
    score = float(np.mean(valences))
    if score >= BAND:
        return 2
    if score <= -BAND:
        return 0
    return 1


def _group_labels(valences: np.ndarray) -> np.ndarray:
    """Vectorised :func:`group_label` over rows of (B, N)."""
    score = valences.mean(axis=1)
    return np.where(score >= BAND, 2, np.where(score <= -BAND, 0, 1))


def sample_group_valences(rng: np.random.Generator, label: int, num_people: int, largest: int) -> np.ndarray:
    """(N,) valences whose group label is ``label``; person ``largest`` disagrees at DISAGREE_RATE.

    Rejection sampling in batches from a class-biased proposal; if a disagreeing largest person
    is impossible for this (label, N) (e.g. two people, Positive, largest negative), it agrees.
    """
    disagree = num_people >= 2 and rng.random() < DISAGREE_RATE
    for want_disagree in (disagree, False):
        for _ in range(8):
            cand = rng.choice(3, size=(_BATCH, num_people), p=_PROPOSALS[label]) - 1
            ok = _group_labels(cand) == label
            ok &= (cand[:, largest] + 1 != label) if want_disagree else (cand[:, largest] + 1 == label)
            hits = np.flatnonzero(ok)
            if hits.size:
                return cand[hits[0]].astype(np.int64)
    raise RuntimeError(f"no valence vector for label {label} with {num_people} people")


def sample_individual_valences(
    rng: np.random.Generator, label: int, num_people: int, dominant: int
) -> np.ndarray:
    """(N,) valences for task ``ier``: the dominant person shows ``label``, the others are uniform."""
    valences = rng.integers(-1, 2, size=num_people)
    valences[dominant] = label - 1
    return valences.astype(np.int64)


def sample_audio_visual(rng: np.random.Generator, label: int) -> tuple[int, int]:
    """(class the scene shows, audio affect in {-1, 0, +1}) of a clip of class ``label``.

    The audio-visual rule of the module docstring: with probability
    :data:`AUDIO_CARRIER_RATE` the audio carries the class and the scene is Neutral, else the
    scene shows it and the affect is uniform.
    """
    if rng.random() < AUDIO_CARRIER_RATE:
        return NEUTRAL, label - 1
    return label, int(rng.integers(-1, 2))
