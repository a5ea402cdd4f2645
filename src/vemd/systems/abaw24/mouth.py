"""Voice activity from the mouth (ABAW 2024 §4.2.1): whether the target speaker talks in a window.

AffWild2's audio holds background noise and other speakers, so the paper decides from the video:
"facial landmarks are extracted using the MediaPipe framework. Then, mouth landmarks are
detected [...] to determine whether the target speaker's mouth is open or closed". vemd measures
the mouth opening of each sampled frame (:class:`MouthOpening`: MediaPipe Face Mesh, shipped
inside the ``mediapipe`` package) as the inner-lip gap over the mouth's width
(:func:`mouth_opening`, which also reads iBUG-68 landmarks), and calls a 4-s audio window voiced
when at least ``voiced_fraction`` of the sampled frames it covers open the mouth by
``mouth_open`` or more (:func:`voiced_windows`). A frame without a face counts as a closed
mouth. The paper gives neither threshold.

Not built: the paper also separates speech from noise and music with Spleeter (deezer). The
``spleeter`` package is on PyPI (2.4.2, on TensorFlow), but its separation models are not in it:
it downloads them from GitHub at first use, which an offline machine cannot, so the windows are
heard as recorded.
"""

from __future__ import annotations

import numpy as np

# Face Mesh (468 or 478 points): inner lips' middle, upper 13 and lower 14; inner corners 78 and 308
MEDIAPIPE_MOUTH = (13, 14, 78, 308)
# iBUG-68: inner lips' middle, upper 62 and lower 66; inner corners 60 and 64
IBUG_MOUTH = (62, 66, 60, 64)


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap over mouth width: landmarks (..., K, 2) → (...,), 0 for closed lips.

    K = 468 or 478 (MediaPipe Face Mesh) or 68 (iBUG); NaN where a width is zero or a point NaN.
    """
    points = np.asarray(points, dtype=np.float64)
    k = points.shape[-2]
    if k in (468, 478):
        upper, lower, left, right = MEDIAPIPE_MOUTH
    elif k == 68:
        upper, lower, left, right = IBUG_MOUTH
    else:
        raise ValueError(f"mouth opening reads 468/478 Face Mesh or 68 iBUG landmarks, got {k}")
    gap = np.linalg.norm(points[..., upper, :] - points[..., lower, :], axis=-1)
    width = np.linalg.norm(points[..., left, :] - points[..., right, :], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(width > 0, gap / width, np.nan)


def voiced_windows(
    times: np.ndarray, openings: np.ndarray, spans: np.ndarray, *, mouth_open: float, voiced_fraction: float
) -> np.ndarray:
    """Which windows are voiced: frames at ``times`` (F,) seconds with mouth ``openings`` (F,)
    (NaN: no face, a closed mouth), windows ``spans`` (W, 2) [start, end) → (W,) bool. A window
    covering no frame is not voiced (nothing shows the speaker talk)."""
    times, spans = np.asarray(times, dtype=np.float64), np.asarray(spans, dtype=np.float64).reshape(-1, 2)
    is_open = np.nan_to_num(np.asarray(openings, dtype=np.float64), nan=-np.inf) >= mouth_open  # (F,)
    inside = (spans[:, :1] <= times[None]) & (times[None] < spans[:, 1:])  # (W, F)
    count = inside.sum(1)
    return (count > 0) & ((inside & is_open[None]).sum(1) >= voiced_fraction * np.maximum(count, 1))


class MouthOpening:
    """MediaPipe Face Mesh on RGB uint8 frames (H, W, 3) → each frame's :func:`mouth_opening`
    (NaN where no face is found); the largest face is the target speaker's (a face crop holds one)."""

    def __init__(self) -> None:
        from vemd.noise import native_noise_filtered

        self._quiet = native_noise_filtered
        with native_noise_filtered():  # its graph's start-up lines on fd 2
            import mediapipe as mp

            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, min_detection_confidence=0.5
            )

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 → (T,) openings."""
        out = np.full(len(frames), np.nan)
        for t, frame in enumerate(frames):
            with self._quiet():
                found = self._mesh.process(np.ascontiguousarray(frame))
            if found.multi_face_landmarks:
                height, width = frame.shape[:2]
                marks = found.multi_face_landmarks[0].landmark
                points = np.array([(m.x * width, m.y * height) for m in marks])  # (468, 2) pixels
                out[t] = mouth_opening(points)
        return out

    def close(self) -> None:
        self._mesh.close()
