"""Which items the audit's probes must keep on one side of a split: recordings and near-duplicates.

Frames of one recording (a session, a sequence, a video) are near-duplicates: with one frame on
each side of a cross-validation split, any representation matches them, raw pixels included
(the last frames of a posed-expression sequence re-identify 100 % of held-out items from 24×24
grey pixels). So every item belongs to a *group* that the folds of :mod:`vemd.privacy.probes`
never cut:

* items of one recording folder (``DIR/<identity>/<recording>/``, :mod:`vemd.privacy.items`)
  form one group, as the folder says;
* items outside a recording folder are joined when they are near-duplicates of each other within
  one identity: a small grey thumbnail's Pearson correlation at least
  :data:`NEAR_DUPLICATE` ``["visual"]`` (12×12 pixels; on real posed faces, 0.96 joins every
  sequence's frames and splits no sequence), or for audio a correlation of the MFCC means so
  close to 1 that only copies of one utterance reach it; identical signatures always join.

An identity with fewer than two groups cannot be re-identified from another recording of it:
:func:`keep_identities` leaves it out, and the report names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vemd.privacy.probes import MIN_GROUPS

SIGNATURE_SIDE = 12  # thumbnail side the near-duplicate test compares (the baseline's, block-averaged)
NEAR_DUPLICATE = {"visual": 0.96, "audio": 0.99999}  # Pearson correlation of signatures, within an identity
SIGNATURES = {"visual": f"{SIGNATURE_SIDE}×{SIGNATURE_SIDE} grey thumbnails", "audio": "MFCC means"}


@dataclass(frozen=True)
class Grouping:
    """Group index per item (N,) and the facts the report states about how they were found."""

    groups: np.ndarray
    facts: dict


def signatures(media: str, baseline: np.ndarray) -> np.ndarray:
    """What the near-duplicate test compares: the pixel baseline's thumbnails block-averaged to
    :data:`SIGNATURE_SIDE` (small shifts of a face between frames vanish), or the MFCC means."""
    if media != "visual":
        return baseline
    side = int(round(np.sqrt(baseline.shape[1])))
    block = side // SIGNATURE_SIDE
    grid = baseline.reshape(len(baseline), SIGNATURE_SIDE, block, SIGNATURE_SIDE, block)  # (N, s, b, s, b)
    return grid.mean(axis=(2, 4)).reshape(len(baseline), -1)


def recording_groups(
    labels: np.ndarray, recordings: list[str | None], signature: np.ndarray, media: str
) -> Grouping:
    """Groups of items (``labels``: identity per item; ``recordings``: the recording folder of
    each, None outside one) as the module says, and how they were found."""
    labels = np.asarray(labels)
    folder = np.array([r is not None for r in recordings])
    duplicates = near_duplicates(signature, labels, NEAR_DUPLICATE[media])
    flat_pairs = [(i, j) for i, j in duplicates if not folder[i] and not folder[j]]
    same_folder = _pairs_by_key([(labels[i], r) if r is not None else None for i, r in enumerate(recordings)])
    groups = components(len(labels), same_folder + flat_pairs)
    crossing = sum(groups[i] != groups[j] for i, j in duplicates)
    per_identity = [len(set(groups[labels == name])) for name in sorted(set(labels))]
    facts = {
        "by": _method(folder),
        "num_groups": len(set(groups)),
        "num_recording_folders": len({(labels[i], r) for i, r in enumerate(recordings) if r is not None}),
        "num_items_outside_folders": int((~folder).sum()),
        "near_duplicate": {"signature": SIGNATURES[media], "min_correlation": NEAR_DUPLICATE[media]},
        "num_items_joined_as_near_duplicates": len({k for pair in flat_pairs for k in pair}),
        "num_near_duplicate_pairs_across_groups": int(crossing),
        "groups_per_identity": [min(per_identity), max(per_identity)],
    }
    return Grouping(groups, facts)


def _method(folder: np.ndarray) -> str:
    if folder.all():
        return "recording folders"
    return "near-duplicates" if not folder.any() else "recording folders, near-duplicates outside them"


def near_duplicates(signature: np.ndarray, labels: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (i < j) of items of one identity whose signatures correlate at ``threshold`` or more,
    or are identical (a constant image correlates with nothing)."""
    x = np.asarray(signature, np.float64)
    pairs = []
    for name in sorted(set(labels)):
        index = np.flatnonzero(labels == name)
        rows = x[index]
        centred = rows - rows.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        unit = centred / np.maximum(norms, 1e-12)
        close = unit @ unit.T >= threshold  # (n, n)
        close &= (norms > 1e-9) & (norms.T > 1e-9)
        same = np.unique(np.round(rows, 6), axis=0, return_inverse=True)[1].reshape(-1)
        close |= same[:, None] == same[None, :]
        a, b = np.nonzero(np.triu(close, k=1))
        pairs += [(int(index[i]), int(index[j])) for i, j in zip(a, b, strict=True)]
    return pairs


def _pairs_by_key(keys: list) -> list[tuple[int, int]]:
    """Pairs joining every item to the first item of the same (non-None) key."""
    first: dict = {}
    pairs = []
    for i, key in enumerate(keys):
        if key is not None:
            pairs.append((first.setdefault(key, i), i))
    return pairs


def components(n: int, pairs: list[tuple[int, int]]) -> np.ndarray:
    """(n,) connected-component index of each of n items joined by ``pairs`` (union-find),
    numbered 0, 1, … in order of each component's first item."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    roots = [root(i) for i in range(n)]
    number = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return np.array([number[r] for r in roots], dtype=np.int64)


def keep_identities(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """(N,) mask of the items whose identity has :data:`~vemd.privacy.probes.MIN_GROUPS` groups or
    more, and the identities left out with why (``"1 item"``, ``"3 items in 1 group"``)."""
    labels = np.asarray(labels)
    skipped = {}
    for name in sorted(set(labels)):
        own = groups[labels == name]
        if len(set(own)) < MIN_GROUPS:
            skipped[str(name)] = "1 item" if len(own) == 1 else f"{len(own)} items in 1 group"
    return ~np.isin(labels, list(skipped)), skipped
