"""Functionals of frame embeddings over non-overlapping windows (§3.2.2, Table 4).

The functionals-based visual system summarises the per-frame embeddings of a video over fixed
2-second windows with mean, minimum and maximum, and one KELM prediction is made per window.
A window spans ``round(window_s * fps)`` frames. The last, shorter window is kept when it holds
at least half a window of frames and dropped otherwise, so a video shorter than half a window
gives no window at all.
"""

from __future__ import annotations

import numpy as np

FUNCTIONALS = ("mean", "min", "max")


def window_spans(num_frames: int, fps: float, window_s: float = 2.0) -> np.ndarray:
    """Frame ranges ``[start, end)`` (W, 2) of the non-overlapping windows over num_frames frames."""
    if not fps > 0 or not window_s > 0:
        raise ValueError(
            f"window functionals need fps > 0 and window_s > 0, got fps={fps}, window_s={window_s}"
        )
    length = max(1, round(window_s * fps))
    starts = np.arange(0, num_frames, length)
    ends = np.minimum(starts + length, num_frames)
    keep = 2 * (ends - starts) >= length
    return np.stack([starts[keep], ends[keep]], axis=1).astype(np.int64).reshape(-1, 2)


def window_functionals(
    embeddings: np.ndarray, fps: float, window_s: float = 2.0, stats: tuple[str, ...] = FUNCTIONALS
) -> tuple[np.ndarray, np.ndarray]:
    """Per-window statistics of embeddings (T, D) → features (W, D * len(stats)) and spans (W, 2).

    The features of a window are the statistics in the order of ``stats``, each a block of D
    columns: with the default, ``[mean_1..mean_D, min_1..min_D, max_1..max_D]``. ``spans`` holds
    each window's frame range ``[start, end)``; divide by fps for seconds.
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2:
        raise ValueError(f"window functionals need embeddings of shape (T, D), got {embeddings.shape}")
    unknown = [s for s in stats if s not in FUNCTIONALS]
    if unknown or not stats:
        raise ValueError(
            f"unknown functionals {unknown or list(stats)}: expected some of {', '.join(FUNCTIONALS)}"
        )
    spans = window_spans(embeddings.shape[0], fps, window_s)
    if len(spans) == 0:
        return np.zeros((0, embeddings.shape[1] * len(stats)), dtype=np.float64), spans
    # Each window is the segment [start, end); the dropped tail lies past the last end.
    frames = embeddings[: spans[-1, 1]].astype(np.float64)
    starts, lengths = spans[:, 0], spans[:, 1] - spans[:, 0]
    reduced = {
        "mean": lambda: np.add.reduceat(frames, starts, axis=0) / lengths[:, None],
        "min": lambda: np.minimum.reduceat(frames, starts, axis=0),
        "max": lambda: np.maximum.reduceat(frames, starts, axis=0),
    }
    return np.concatenate([reduced[s]() for s in stats], axis=1), spans
