"""The audio model's windows (ABAW 2024 §4.2.1) and the frames they cover.

"4-second windows with a step of two seconds are formed" over each source's audio: the span
its items cover (an AffWild2 video's windows of frames, put together again; a clip's whole audio)
is cut into ``window_s`` windows every ``step_s`` seconds, the last one ending at the span's end
(:func:`window_spans`; a span shorter than a window is one window over all of it). The model
predicts each window; each sampled frame takes the mean of the windows covering its time, a frame
that none covers the nearest window's (:func:`frames_from_windows`), so the audio predictions
enter the decision fusion frame by frame beside the dynamic and KELM ones (§3.3). A window's
target is the mean of the labelled targets of the sampled frames it covers (the paper's Table 2
scores windows, not frames: §5.1).

A sampled frame's time is its source frame number over the video's frame rate; in a source without
one (a frame folder: SynthGroups) the frames are spread evenly over the audio, frame ``k`` of
``n`` at ``(k + 0.5) / n`` of its duration.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vemd.data.audio import audio_duration
from vemd.data.dataset import source_span
from vemd.data.media import probe
from vemd.data.multimodal import audio_path
from vemd.systems.abaw24.mouth import voiced_windows

log = logging.getLogger(__name__)


def window_spans(start: float, end: float, window_s: float, step_s: float) -> np.ndarray:
    """[start, end) seconds cut into windows of ``window_s`` every ``step_s``: (W, 2), the last
    one ending at ``end``; a span no longer than a window is one window over all of it."""
    if end - start <= window_s:
        return np.array([[start, end]], dtype=np.float64)
    starts = np.arange(start, end - window_s + 1e-9, step_s)
    if starts[-1] + window_s < end - 1e-9:
        starts = np.append(starts, end - window_s)
    return np.stack([starts, starts + window_s], axis=1)


def frames_from_windows(times: np.ndarray, spans: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Frames at ``times`` (T,) seconds from window predictions ``preds`` (W, C) over ``spans``
    (W, 2): each frame the mean of the windows covering it, else the nearest window's (by
    centre); (T, C), zeros without any window."""
    times, spans = np.asarray(times, dtype=np.float64), np.asarray(spans, dtype=np.float64).reshape(-1, 2)
    preds = np.asarray(preds, dtype=np.float64)
    out = np.zeros((len(times), preds.shape[-1]))
    if not len(spans):
        return out
    inside = (spans[:, 0][None] <= times[:, None]) & (times[:, None] < spans[:, 1][None])  # (T, W)
    count = inside.sum(1)
    out[count > 0] = (inside @ preds)[count > 0] / count[count > 0, None]
    nearest = np.abs(spans.mean(1)[None] - times[:, None]).argmin(1)  # (T,)
    out[count == 0] = preds[nearest[count == 0]]
    return out


@dataclass
class SplitWindows:
    """The audio windows of a split's items: each window's audio file and span, each item's
    frame times and windows (the windows of its source that overlap its span)."""

    paths: list[Path]  # (W,) the audio file of each window
    spans: np.ndarray  # (W, 2) [start, end) seconds in it
    times: list[np.ndarray]  # per item, (T,) seconds of its sampled frames in its audio
    item_windows: list[np.ndarray]  # per item, the rows of its windows

    def frames(self, preds: np.ndarray) -> np.ndarray:
        """Window predictions (W, C) → each item's sampled frames (N, T, C) (:func:`frames_from_windows`)."""
        return np.stack(
            [frames_from_windows(t, self.spans[w], preds[w]) for t, w in zip(self.times, self.item_windows)]
        )

    def gather(self, values: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per window, the times (F,) and ``values`` (F, ...) of the sampled frames inside it, over
        every item of its source; ``values`` (N, T, ...) per item and frame."""
        found = [([], []) for _ in range(len(self.spans))]
        for times, rows, value in zip(self.times, self.item_windows, values):
            for w in rows:
                inside = (self.spans[w, 0] <= times) & (times < self.spans[w, 1])
                found[w][0].append(times[inside])
                found[w][1].append(value[inside])
        empty = (np.zeros(0), np.zeros((0, *np.shape(values)[2:])))
        return [(np.concatenate(t), np.concatenate(v)) if t else empty for t, v in found]

    def targets(self, targets: np.ndarray) -> np.ndarray:
        """Each window's target (W, C): the mean of the labelled (non-NaN) targets (N, T, C) of the
        sampled frames inside it; NaN where none is."""
        with warnings.catch_warnings():  # a window without a labelled frame: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.stack(
                [
                    np.nanmean(v, axis=0) if len(v) else np.full(targets.shape[-1], np.nan)
                    for _, v in self.gather(targets)
                ]
            ).reshape(len(self.spans), targets.shape[-1])

    def voiced(self, openings: np.ndarray, *, mouth_open: float, voiced_fraction: float) -> np.ndarray:
        """Each window's voice activity (W,) bool from the mouth openings (N, T) of the sampled
        frames inside it (:func:`vemd.systems.abaw24.mouth.voiced_windows`)."""
        return np.array(
            [
                voiced_windows(
                    t, v, self.spans[w : w + 1], mouth_open=mouth_open, voiced_fraction=voiced_fraction
                )[0]
                for w, (t, v) in enumerate(self.gather(openings))
            ],
            dtype=bool,
        )


def split_windows(dataset, frame_indices: list[np.ndarray], window_s: float, step_s: float) -> SplitWindows:
    """The windows of a ClipDataset's items, whose sampled source frames are ``frame_indices``
    (per item, (T,)); an item without an audio file has no window (its frames take zeros)."""
    probes, durations = {}, {}
    spans, times, keys = [], [], []
    for record, indices in zip(dataset.records, frame_indices):
        path = audio_path(record, dataset.root)
        media = dataset.media_path(record)
        if media not in probes:
            probes[media] = probe(media)
        info = probes[media]
        if path is not None and info.fps <= 0 and path not in durations:
            durations[path] = audio_duration(path)
        if info.fps > 0:
            first, end = source_span(record, info.num_frames)
            spans.append((first / info.fps, end / info.fps))
            times.append(np.asarray(indices, dtype=np.float64) / info.fps)
        else:
            duration = durations.get(path, 0.0)
            spans.append((0.0, duration))
            times.append((np.asarray(indices, dtype=np.float64) + 0.5) * duration / max(info.num_frames, 1))
        keys.append(path)
    paths, windows, item_windows = [], [], [np.zeros(0, dtype=np.int64) for _ in keys]
    for path in dict.fromkeys(k for k in keys if k is not None):
        items = [i for i, k in enumerate(keys) if k == path]
        start, end = min(spans[i][0] for i in items), max(spans[i][1] for i in items)
        cut = window_spans(start, end, window_s, step_s) if end > start else np.zeros((0, 2))
        first = len(windows)
        windows += list(cut)
        paths += [path] * len(cut)
        for i in items:
            overlap = (cut[:, 0] < spans[i][1]) & (cut[:, 1] > spans[i][0])
            item_windows[i] = first + np.flatnonzero(overlap)
    without = sum(k is None for k in keys)
    if without:
        log.info(
            "abaw24 audio: %d of %d items have no audio file (their frames' audio predictions are 0)",
            without,
            len(keys),
        )
    return SplitWindows(paths, np.asarray(windows, dtype=np.float64).reshape(-1, 2), times, item_windows)
