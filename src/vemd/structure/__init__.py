"""Skeletons, per-frame annotations, their on-disk store, targets and joint augmentation.

The names below are imported from their modules when first asked for: importing one module of
this package (``vemd.structure.transforms`` to predict, ``vemd.structure.skeleton`` to build a
model) does not import the others, nor numba, which only the training targets' kernel
(:mod:`vemd.structure.targets`) needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vemd.structure.annotations import AnnotationFormatError, AnnotationStore, FrameAnnotation, Person
    from vemd.structure.skeleton import BODY, FACE, FACE_HEATMAP_SKELETON, Skeleton, skeleton_for
    from vemd.structure.targets import PersonQueryTargets, person_query_targets, render_limb_heatmaps

_MODULE_OF = {
    "AnnotationFormatError": "annotations",
    "AnnotationStore": "annotations",
    "FrameAnnotation": "annotations",
    "Person": "annotations",
    "BODY": "skeleton",
    "FACE": "skeleton",
    "FACE_HEATMAP_SKELETON": "skeleton",
    "Skeleton": "skeleton",
    "skeleton_for": "skeleton",
    "PersonQueryTargets": "targets",
    "person_query_targets": "targets",
    "render_limb_heatmaps": "targets",
}

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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
