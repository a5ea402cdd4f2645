"""The interface every annotation backend implements: faces with landmarks, then bodies.

Coordinates are pixels of the frame; visibility is 2 (seen) or 0 (absent, with x = y = 0),
as in COCO.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from vemd.annotate.pairing import pair_persons
from vemd.structure.annotations import FrameAnnotation

VISIBLE = 2.0


@dataclass
class FaceDetection:
    """One face: ``box`` (4,) as x0, y0, x1, y1 and ``landmarks`` (68, 3) iBUG points."""

    box: np.ndarray
    landmarks: np.ndarray


@dataclass
class BodyDetection:
    """One body: ``keypoints`` (17, 3) COCO-17 points."""

    keypoints: np.ndarray


class Backend(ABC):
    """Detects every person's face and body in one frame; built once per worker process."""

    name: str = ""

    @abstractmethod
    def detect_faces(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in an RGB uint8 (H, W, 3) frame."""

    @abstractmethod
    def detect_bodies(self, image: np.ndarray, faces: list[FaceDetection]) -> list[BodyDetection]:
        """Bodies in an RGB uint8 (H, W, 3) frame; ``faces`` may guide the search."""

    def annotate(self, image: np.ndarray) -> FrameAnnotation:
        """All persons of a frame, each body paired with its face where one matches."""
        faces = self.detect_faces(image)
        bodies = self.detect_bodies(image, faces)
        height, width = image.shape[:2]
        return FrameAnnotation(width, height, pair_persons(bodies, faces))
