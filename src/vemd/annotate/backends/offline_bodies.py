"""Offline bodies: MediaPipe Pose (one person per call) made multi-person.

BlazePose finds one person per image, so each detected face anchors a crop where its
body should be (a box extrapolated from the face box, the other faces masked out), and a
skeleton is kept only when its head lies in the anchor face. Then the people whose face
was not found: the found bodies are masked and the whole frame is searched again, until
nothing new appears.
"""

from __future__ import annotations

import numpy as np

from vemd.annotate.backends.base import VISIBLE, BodyDetection, FaceDetection
from vemd.annotate.pairing import head_in_box, head_point
from vemd.noise import native_noise_filtered

# BlazePose's 33 points → COCO-17.
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# Body crops around a face box, in face sizes (sideways, above, below), tried in turn: the
# narrow one keeps neighbours out, the wide one reaches raised arms.
CROPS = ((1.3, 1.0, 6.5), (2.0, 1.5, 6.5))
HEAD = 5  # COCO-17 points 0-4 are the head
MASK_VALUE = 127


def keypoints_from_landmarks(landmarks, origin: tuple[int, int], size: tuple[int, int], threshold: float):
    """(17, 3) COCO-17 points in frame pixels from MediaPipe's normalised landmarks of a crop.

    Args:
        landmarks: MediaPipe ``pose_landmarks.landmark`` (33 entries, x/y in [0, 1] of the crop).
        origin: (x, y) of the crop in the frame; size: (width, height) of the crop.
        threshold: MediaPipe visibility below which a point is absent.
    """
    points = np.array([(p.x, p.y, p.visibility) for p in landmarks], np.float32)[list(BLAZEPOSE_TO_COCO17)]
    points[:, :2] = points[:, :2] * size + origin
    seen = (points[:, 2] >= threshold) & np.all(points[:, :2] >= origin, axis=1)
    seen &= np.all(points[:, :2] < np.add(origin, size), axis=1)
    points[:, 2] = VISIBLE
    points[~seen] = 0.0
    return points


def body_box(keypoints: np.ndarray, pad: float = 0.15) -> np.ndarray | None:
    """(4,) padded box around the visible points of (17, 3) keypoints, or None."""
    seen = keypoints[keypoints[:, 2] > 0, :2]
    if len(seen) < 2:
        return None
    lo, hi = seen.min(axis=0), seen.max(axis=0)
    grow = pad * (hi - lo).max()
    return np.concatenate([lo - grow, hi + grow])


def _clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer x0, y0, x1, y1 of ``box`` cut to the frame; empty (x1 = x0 or y1 = y0) when the box
    lies outside it, never a negative end, which would index from the far side."""
    x0, x1 = (int(min(max(v, 0), width)) for v in box[0::2])
    y0, y1 = (int(min(max(v, 0), height)) for v in box[1::2])
    return x0, y0, max(x0, x1), max(y0, y1)


def _masked_crop(image: np.ndarray, crop: tuple[int, int, int, int], masks: list[np.ndarray]) -> np.ndarray:
    """A contiguous copy of ``crop`` of the frame with the ``masks`` boxes (frame pixels) painted grey.

    Only the crop is copied, not the whole frame once per face: the pixels are those of
    masking the frame and then cropping it.
    """
    cx0, cy0, cx1, cy1 = crop
    out = image[cy0:cy1, cx0:cx1].copy()
    height, width = image.shape[:2]
    for box in masks:
        x0, y0, x1, y1 = _clip_box(box, width, height)
        out[max(y0 - cy0, 0) : max(y1 - cy0, 0), max(x0 - cx0, 0) : max(x1 - cx0, 0)] = MASK_VALUE
    return out


class MediaPipeBodies:
    """Multi-person COCO-17 bodies from MediaPipe Pose (``model_complexity=1``, shipped).

    Args:
        visibility: MediaPipe visibility score below which a keypoint is absent.
        min_points: a skeleton with fewer visible points below the head is dropped.
        max_repeats: rounds of mask-and-search for people whose face was not found.
    """

    def __init__(self, *, visibility: float = 0.5, min_points: int = 3, max_repeats: int = 4) -> None:
        # MediaPipe's and TFLite's start-up lines on fd 2 come from the graph's threads as it
        # starts: one blank frame, run inside the filter, waits for them
        with native_noise_filtered():
            import mediapipe as mp

            self._pose = mp.solutions.pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=False,
                min_detection_confidence=0.5,
            )
            self._pose.process(np.zeros((64, 64, 3), np.uint8))
        self.visibility = visibility
        self.min_points = min_points
        self.max_repeats = max_repeats

    def _run(
        self, image: np.ndarray, box: tuple[int, int, int, int], masks: list[np.ndarray]
    ) -> np.ndarray | None:
        """The skeleton MediaPipe finds in crop ``box`` of the frame with ``masks`` painted out."""
        x0, y0, x1, y1 = box
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        crop = _masked_crop(image, box, masks)
        with native_noise_filtered():  # its graph's calculators log W0000 lines on fd 2
            result = self._pose.process(crop)
        if result.pose_landmarks is None:
            return None
        points = keypoints_from_landmarks(
            result.pose_landmarks.landmark, (x0, y0), (x1 - x0, y1 - y0), self.visibility
        )
        return points if (points[HEAD:, 2] > 0).sum() >= self.min_points else None

    def __call__(self, image: np.ndarray, faces: list[FaceDetection]) -> list[BodyDetection]:
        """Bodies of an RGB uint8 (H, W, 3) frame, anchored on ``faces`` first."""
        found = [points for i in range(len(faces)) if (points := self._anchored(image, faces, i)) is not None]
        with_body = [f.box for f in faces if any(head_in_box(k, f.box) for k in found)]
        height, width = image.shape[:2]
        for _ in range(self.max_repeats):
            boxes = [b for b in map(body_box, found) if b is not None]
            points = self._run(image, (0, 0, width, height), boxes + with_body)
            known = points is not None and (
                any(_same_person(points, other) for other in found)
                or any(head_in_box(points, box) for box in with_body)
            )
            if points is None or known:
                break
            found.append(points)
        return [BodyDetection(keypoints=k) for k in found]

    def _anchored(self, image: np.ndarray, faces: list[FaceDetection], i: int) -> np.ndarray | None:
        """The body below face ``i``, searched in crops around it with the other faces masked."""
        face = faces[i]
        others = [f.box for j, f in enumerate(faces) if j != i]
        size = float(np.sqrt(np.prod(face.box[2:] - face.box[:2])))
        height, width = image.shape[:2]
        for side, above, below in CROPS:
            crop = face.box + size * np.array([-side, -above, side, below])
            points = self._run(image, _clip_box(crop, width, height), others)
            if points is not None and head_in_box(points, face.box):
                return points
        return None


def _same_person(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two skeletons' heads are closer than half the smaller shoulder width (when seen)."""
    head_a, head_b = head_point(a), head_point(b)
    if head_a is None or head_b is None:
        return False
    widths = [np.linalg.norm(k[5, :2] - k[6, :2]) for k in (a, b) if k[5, 2] > 0 and k[6, 2] > 0]
    return bool(widths) and bool(np.linalg.norm(head_a - head_b) < 0.5 * min(widths))
