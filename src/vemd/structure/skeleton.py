"""Skeleton definitions: the one source of truth for joints, limbs and face segments.

Body: COCO-17 keypoints and the 18 limbs of the authors' released code (paper §4.1
names 18 limb connections without listing them).
Face: the 68 iBUG landmarks, their 63 contour segments and the 20 "dynamic"
connections. PersonQuery uses the 20 dynamic face connections; Heatmap uses the
20 followed by the 63 (83 channels; the inner-lip segments appear twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

COCO17_JOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

BODY_LIMBS: tuple[tuple[int, int], ...] = (
    (0, 5), (0, 6), (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9),
    (6, 8), (8, 10), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)  # fmt: skip


def _chain(start: int, stop: int) -> list[tuple[int, int]]:
    """Open polyline start→stop (inclusive)."""
    return [(i, i + 1) for i in range(start, stop)]


def _ring(start: int, stop: int) -> list[tuple[int, int]]:
    """Closed polyline over landmarks start..stop (inclusive)."""
    return _chain(start, stop) + [(stop, start)]


# 68 iBUG landmarks: 0-16 jaw, 17-21 / 22-26 brows, 27-30 nose bridge, 31-35 lower nose,
# 36-41 / 42-47 eyes, 48-59 outer lips, 60-67 inner lips.
FACE_CONTOUR: tuple[tuple[int, int], ...] = tuple(
    _chain(0, 16)  # jaw: 16
    + _chain(17, 21)  # right brow: 4
    + _chain(22, 26)  # left brow: 4
    + _chain(27, 30)  # nose bridge: 3
    + _chain(31, 35)  # lower nose: 4
    + _ring(36, 41)  # eye: 6
    + _ring(42, 47)  # eye: 6
    + _ring(48, 59)  # outer lips: 12
    + _ring(60, 67)  # inner lips: 8
)

FACE_DYNAMIC: tuple[tuple[int, int], ...] = tuple(
    [(36, 41), (37, 40), (38, 39), (42, 47), (43, 46), (44, 45)]  # eye openings
    + [(17, 19), (19, 21), (22, 24), (24, 26)]  # brow arcs
    + _ring(60, 67)  # inner lips
    + [(51, 56), (50, 57)]  # mouth opening
)

FACE_HEATMAP: tuple[tuple[int, int], ...] = FACE_DYNAMIC + FACE_CONTOUR


def _mirror_names(names: tuple[str, ...]) -> list[int]:
    swap = {"left_": "right_", "right_": "left_"}
    out = []
    for name in names:
        for a, b in swap.items():
            if name.startswith(a):
                name = b + name[len(a) :]
                break
        out.append(names.index(name))
    return out


COCO17_FLIP: tuple[int, ...] = tuple(_mirror_names(COCO17_JOINTS))

# iBUG-68 horizontal mirror: jaw reversed, brows swapped and reversed, nose bridge fixed,
# lower nose reversed, eyes swapped with the order that keeps corners matched, lips mirrored.
IBUG68_FLIP: tuple[int, ...] = tuple(
    list(range(16, -1, -1))
    + list(range(26, 21, -1))
    + list(range(21, 16, -1))
    + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46]
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
    + [64, 63, 62, 61, 60, 67, 66, 65]
)


@dataclass(frozen=True)
class Skeleton:
    """A keypoint set with the limb segments drawn between its points.

    Attributes:
        name: identifier (``body``, ``face``, ``face_heatmap``).
        num_joints: keypoints per person.
        limbs: (joint_a, joint_b) index pairs, one per limb channel.
        flip: joint permutation applied by a horizontal flip.
        graph_edges: edges of the keypoint set's graph, the ST-GCN's (§3.2.1); None: the limbs.
    """

    name: str
    num_joints: int
    limbs: tuple[tuple[int, int], ...]
    flip: tuple[int, ...]
    graph_edges: tuple[tuple[int, int], ...] | None = None

    @property
    def num_limbs(self) -> int:
        return len(self.limbs)

    @cached_property
    def limb_array(self) -> np.ndarray:
        """(num_limbs, 2) int64 endpoints."""
        return np.asarray(self.limbs, dtype=np.int64).reshape(-1, 2)

    @cached_property
    def limb_flip(self) -> np.ndarray:
        """(num_limbs,) index of each limb's mirror image under a horizontal flip.

        Flipping maps limb (a, b) to (flip[a], flip[b]), which must be a limb of the same
        skeleton (in either orientation). The released 20 dynamic face connections are not
        mirror-symmetric (e.g. (37, 40) mirrors to (44, 47), absent), so this raises for
        them: augmentation therefore flips keypoints and re-renders targets, never
        permutes target channels.
        """
        index = {}
        for i, (a, b) in enumerate(self.limbs):
            index.setdefault((a, b), i)
        perm = []
        for a, b in self.limbs:
            fa, fb = self.flip[a], self.flip[b]
            if (fa, fb) in index:
                perm.append(index[(fa, fb)])
            elif (fb, fa) in index:
                perm.append(index[(fb, fa)])
            else:
                raise ValueError(f"{self.name}: limb ({a},{b}) has no mirror")
        return np.asarray(perm, dtype=np.int64)

    @cached_property
    def limb_adjacency(self) -> np.ndarray:
        """(num_limbs, num_limbs) 1 where two distinct limbs share a joint."""
        ends = self.limb_array
        share = (ends[:, None, :, None] == ends[None, :, None, :]).any(axis=(2, 3))
        np.fill_diagonal(share, False)
        return share.astype(np.float32)

    @cached_property
    def limb_joints(self) -> np.ndarray:
        """(J,) sorted int64 indices of the joints that end at least one limb."""
        return np.unique(self.limb_array)

    @cached_property
    def joint_adjacency(self) -> np.ndarray:
        """(num_joints, num_joints) symmetric 0/1 adjacency of the graph edges (else the limbs)."""
        adj = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        ends = np.asarray(self.graph_edges or self.limbs, dtype=np.int64).reshape(-1, 2)
        adj[ends[:, 0], ends[:, 1]] = 1.0
        adj[ends[:, 1], ends[:, 0]] = 1.0
        return adj


BODY = Skeleton("body", 17, BODY_LIMBS, COCO17_FLIP)
# The face graph is the iBUG-68 one (63 contour segments and the 20 dynamic connections): the 20
# dynamic connections alone split their 30 landmarks into 11 pieces (each eye chord a pair).
FACE = Skeleton("face", 68, FACE_DYNAMIC, IBUG68_FLIP, graph_edges=FACE_HEATMAP)
FACE_HEATMAP_SKELETON = Skeleton("face_heatmap", 68, FACE_HEATMAP, IBUG68_FLIP)

NUM_BODY_JOINTS = 17
NUM_FACE_JOINTS = 68


def skeleton_for(modality: str, decoder: str) -> Skeleton:
    """The limb set a decoder predicts for a modality (``body``/``face``)."""
    if modality == "body":
        return BODY
    if modality == "face":
        return FACE_HEATMAP_SKELETON if decoder == "heatmap" else FACE
    raise ValueError(f"unknown SR modality {modality!r} (expected 'body' or 'face')")
