"""Temporal smoothing of predictions: the post-processing of the ABAW 2024 system (its §4.3).

Predictions made at a reduced rate (sampled frames, or one per window) are linearly
interpolated to every frame of the video, then smoothed with a normalised Hamming window (0.5 s
in that system) at the video's frame rate: :func:`frame_series`, which ``vemd test`` of an ABAW
2024 model scores (:mod:`vemd.systems.abaw24.evaluate`) and ``vemd predict --smooth`` reads its
windows back from (:func:`smooth_windows`). Near the ends the window is renormalised over the
samples it covers, so the first and last seconds are not pulled towards zero. Class
probabilities stay probabilities: every smoothed row is a convex combination of the input rows.
"""

from __future__ import annotations

import numpy as np


def hamming_smooth(values: np.ndarray, length: int) -> np.ndarray:
    """(N, C) values at a constant rate → (N, C), each column convolved with a normalised
    Hamming window of ``length`` samples (≤ 2: unchanged), renormalised at the ends."""
    values = np.asarray(values, dtype=np.float64)
    if length <= 2 or len(values) < 2:
        return values.copy()
    kernel = np.hamming(length)  # symmetric; its end taps are 0.08
    weight = np.convolve(np.ones(len(values)), kernel, mode="same")
    columns = [np.convolve(values[:, c], kernel, mode="same") / weight for c in range(values.shape[1])]
    return np.stack(columns, axis=1)


def interpolate(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(N,) increasing ``times`` with (N, C) ``values`` → (M, C) linearly interpolated at ``at``
    (M,); held constant beyond the first and last time."""
    values = np.asarray(values, dtype=np.float64)
    return np.stack([np.interp(at, times, values[:, c]) for c in range(values.shape[1])], axis=1)


def frame_series(
    positions: np.ndarray, values: np.ndarray, frames: np.ndarray, *, rate: float, seconds: float | None
) -> np.ndarray:
    """ABAW 2024 §4.3: (N, C) predictions at ``positions`` (N,) → (F, C), one per frame of
    ``frames`` (F,), increasing; positions and frames in one unit, frame numbers or seconds.

    Linearly interpolated (held before the first and after the last position; a position given
    twice takes the mean of its predictions), then smoothed with a normalised Hamming window of
    ``seconds`` at ``rate`` frames per second, ``round(seconds · rate)`` frames long
    (:func:`hamming_smooth`; ``seconds`` 0 or None, or ``rate`` ≤ 0: not smoothed).
    """
    values = np.asarray(values, dtype=np.float64)
    at, inverse = np.unique(np.asarray(positions, dtype=np.float64), return_inverse=True)
    inverse = inverse.ravel()
    sums = np.zeros((len(at), values.shape[1]))
    np.add.at(sums, inverse, values)
    curve = interpolate(at, sums / np.bincount(inverse)[:, None], np.asarray(frames, dtype=np.float64))
    length = int(round(seconds * rate)) if seconds and rate > 0 else 0
    return hamming_smooth(curve, length)


def smooth_windows(
    starts: np.ndarray,
    ends: np.ndarray,
    values: np.ndarray,
    frame_times: np.ndarray,
    *,
    rate: float,
    seconds: float,
) -> np.ndarray:
    """(N, C) predictions of windows ``[starts, ends)`` (seconds) → (N, C) read back from their
    smoothed per-frame series.

    Each window's prediction is placed at its centre and brought to every frame of the video
    (``frame_times`` (F,): when each frame is shown) by :func:`frame_series` with a ``seconds``
    Hamming window at ``rate`` frames per second; a window then takes the mean of the series over
    the frames shown in its span (a window without a frame in it: the series at its centre). A
    window thus reads its neighbours' predictions as the frames between their centres do, not only
    its own: of back-to-back windows, the interpolation alone pulls one a quarter of the way
    towards neighbours that both differ from it by the same amount, and the smoothing softens the
    turns at the centres.
    """
    starts, ends = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    centres = (starts + ends) / 2
    series = frame_series(centres, values, frame_times, rate=rate, seconds=seconds)  # (F, C)
    sums = np.concatenate([np.zeros((1, series.shape[1])), np.cumsum(series, axis=0)])  # (F + 1, C)
    first = np.searchsorted(frame_times, starts - _EPSILON)  # the first frame shown in each window
    stop = np.searchsorted(frame_times, ends - _EPSILON)  # past its last
    count = stop - first
    out = interpolate(frame_times, series, centres)
    has = count > 0
    out[has] = (sums[stop[has]] - sums[first[has]]) / count[has, None]
    return out


_EPSILON = 1e-6  # seconds: a frame computed to start on a window's edge is taken to start there
