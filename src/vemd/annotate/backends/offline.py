"""The ``offline`` backend: dlib/yuface faces and MediaPipe bodies, weights shipped in packages."""

from __future__ import annotations

import numpy as np

from vemd.annotate.backends.base import Backend, BodyDetection, FaceDetection
from vemd.errors import VemdError

REQUIRED_MODULES = ("dlib", "yuface", "mediapipe")


def missing_modules() -> list[str]:
    """Modules of the ``annotate`` extra that cannot be imported here."""
    import importlib.util

    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


class OfflineBackend(Backend):
    """Faces + 68 landmarks (dlib, yuface) and multi-person COCO-17 bodies (MediaPipe Pose)."""

    name = "offline"

    def __init__(self, *, use_yuface: bool = True, min_face_fraction: float = 0.09) -> None:
        missing = missing_modules()
        if missing:
            raise VemdError(
                f"the offline annotator needs {', '.join(missing)}: pip install -c constraints.txt -e '.[annotate]'"
            )
        from vemd.annotate.backends.offline_bodies import MediaPipeBodies
        from vemd.annotate.backends.offline_faces import OfflineFaceDetector

        self.faces = OfflineFaceDetector(use_yuface=use_yuface, min_face_fraction=min_face_fraction)
        self.bodies = MediaPipeBodies()

    def detect_faces(self, image: np.ndarray) -> list[FaceDetection]:
        return self.faces(image)

    def detect_bodies(self, image: np.ndarray, faces: list[FaceDetection]) -> list[BodyDetection]:
        return self.bodies(image, faces)
