"""Temporal smoothing of a prediction timeline (the post-processing of the ABAW'24 system).

Predictions made over windows (or at a reduced frame rate) are linearly interpolated to the
video's frame rate, then smoothed with a normalised Hamming window (0.5 s in that system).
Near the ends the window is renormalised over the samples it covers, so the first and last
seconds are not pulled towards zero. Class probabilities stay probabilities: every smoothed
row is a convex combination of the input rows.
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


def smooth_timeline(
    times: np.ndarray, values: np.ndarray, *, rate: float, seconds: float, duration: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Window predictions → a smoothed curve at ``rate`` samples per second.

    Args:
        times: (N,) increasing times in seconds of the predictions (window centres).
        values: (N, C) predictions (class probabilities, valence, arousal).
        rate: the video's frame rate; the curve has one sample per frame f, at its time ``f / rate``.
        seconds: Hamming window length in seconds (0: interpolation only).
        duration: the video's length (default: one window past the last time).

    Returns:
        ``(frame_times (F,), curve (F, C))``.
    """
    if rate <= 0:
        raise ValueError(f"rate {rate}: expected frames per second > 0")
    times = np.asarray(times, dtype=np.float64)
    end = float(duration) if duration is not None else float(times[-1]) + 1 / rate
    frame_times = np.arange(max(1, int(round(end * rate)))) / rate
    curve = interpolate(times, values, frame_times)
    return frame_times, hamming_smooth(curve, int(round(seconds * rate)))


def smooth_windows(
    times: np.ndarray, values: np.ndarray, *, rate: float, seconds: float, duration: float | None = None
) -> np.ndarray:
    """(N, C) window predictions smoothed as :func:`smooth_timeline` and read back at ``times``."""
    frame_times, curve = smooth_timeline(times, values, rate=rate, seconds=seconds, duration=duration)
    return interpolate(frame_times, curve, np.asarray(times, dtype=np.float64))
