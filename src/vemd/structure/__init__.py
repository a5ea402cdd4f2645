"""Skeletons, per-frame annotations, their on-disk store, targets and joint augmentation."""

from vemd.structure.annotations import (
    AnnotationFormatError,
    AnnotationStore,
    FrameAnnotation,
    Person,
)
from vemd.structure.skeleton import BODY, FACE, FACE_HEATMAP_SKELETON, Skeleton, skeleton_for
from vemd.structure.targets import PersonQueryTargets, person_query_targets, render_limb_heatmaps

__all__ = [
    "BODY",
    "FACE",
    "FACE_HEATMAP_SKELETON",
    "AnnotationFormatError",
    "AnnotationStore",
    "FrameAnnotation",
    "Person",
    "PersonQueryTargets",
    "Skeleton",
    "person_query_targets",
    "render_limb_heatmaps",
    "skeleton_for",
]
