"""Annotation statistics as the paper reports them (Tables 1 and 2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vemd.structure.annotations import AnnotationStore


@dataclass
class AnnotationSummary:
    """Frames and clips of an INPUT found in a store, Q_max, and clips dropped from training.

    ``max_bodies`` / ``max_faces``: most bodies / faces in one frame (Table 1; Q_max is the
    larger); ``empty_clips``: clips with no body and no face in any frame, excluded from
    training (Table 2).
    """

    clips: int
    frames: int
    max_bodies: int
    max_faces: int
    empty_clips: int

    @property
    def q_max(self) -> int:
        return max(self.max_bodies, self.max_faces)

    @property
    def empty_percent(self) -> float:
        return 100.0 * self.empty_clips / self.clips if self.clips else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "q_max": self.q_max, "empty_percent": round(self.empty_percent, 2)}


def summarise(store: AnnotationStore, clip_ids: list[str]) -> AnnotationSummary:
    """Statistics of the stored frames whose clip is in ``clip_ids``."""
    wanted = set(clip_ids)
    detected: dict[str, bool] = {}
    frames = max_bodies = max_faces = 0
    for key, frame in store.items():
        clip_id = key.rpartition("/")[0]
        if clip_id not in wanted:
            continue
        frames += 1
        max_bodies, max_faces = max(max_bodies, frame.num_bodies), max(max_faces, frame.num_faces)
        detected[clip_id] = detected.get(clip_id, False) or bool(frame.persons)
    empty = sum(not found for found in detected.values())
    return AnnotationSummary(len(detected), frames, max_bodies, max_faces, empty)
