"""Group emotion of images and videos: the public inference API.

The result of every input is group-level only: a label, class probabilities, the clip
valence for a model with a valence head (``model.valence_head``; one value per window, as
the class probabilities) and, for a video longer than one window, a timeline of windows
with the same fields. No
box, track, identity, per-person score or structural map leaves this module, and no
frame is written to disk.

A truncated video (its header promises more frames than decode) is predicted over the
frames that decode: the windows beyond them are dropped, ``duration`` is what was read, and
one notice names the file and both counts. A video of which no frame decodes fails.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vemd.data.media import (
    SourceInfo,
    TruncatedVideo,
    iter_video_frames,
    probe,
    read_frames_at,
    sample_indices,
)
from vemd.structure.transforms import sample_clip_transform

PUBLIC_KEYS = frozenset({"input", "label", "probs", "windows", "duration"})
WINDOW_KEYS = frozenset({"start", "end", "label", "probs"})
VALENCE_KEY = "valence"  # in results and windows of a model with a valence head only

log = logging.getLogger(__name__)


@dataclass
class Window:
    """A span of the input and the source frames sampled from it."""

    start: float  # seconds
    end: float
    indices: list[int]


class GroupEmotionPredictor:
    """Loads a vemd model once and predicts the group emotion of media files.

    Args:
        checkpoint: ``model.pt`` (or a fit checkpoint).
        window: seconds of video per prediction window, a finite number > 0; default: the
            training clip length (``frames × frame_interval`` for ``fps`` sampling, else 5 s).
        notify: called with the one-line notice of a truncated video (default: a logged warning).
        device: where the model runs (``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``auto``).
    """

    def __init__(
        self,
        checkpoint: str | Path,
        *,
        window: float | None = None,
        notify: Callable[[str], None] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        from vemd.inference.device import resolve_device
        from vemd.train.checkpoint import load_model
        from vemd.train.module import input_stats

        if window is not None:
            check_window(window)
        self.device = resolve_device(device)
        self.model, self.cfg, self.class_names = load_model(checkpoint)
        self.model.to(self.device)
        self.stage1 = self.cfg.train.stage == "1"
        d = self.cfg.data
        self.frames = d.frames
        default_window = d.frames * d.frame_interval if d.sampling == "fps" else 5.0
        self.window = default_window if window is None else float(window)
        self.notify = notify or log.warning
        mean, std = input_stats(self.model)
        self.mean = torch.tensor(mean, device=self.device).view(1, 1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device).view(1, 1, 3, 1, 1) * 255

    def windows(self, path: Path) -> tuple[list[Window], float]:
        """Prediction windows of a source and its duration in seconds (0 for images)."""
        return self._windows(probe(path))

    def _windows(self, info: SourceInfo) -> tuple[list[Window], float]:
        d = self.cfg.data
        if info.kind != "video" or info.fps <= 0:
            indices = sample_indices(info.num_frames, self.frames)
            return [Window(0.0, 0.0, indices)], 0.0
        duration = info.num_frames / info.fps
        per_window = max(1, int(round(self.window * info.fps)))
        starts = list(range(0, max(1, info.num_frames - per_window // 2), per_window)) or [0]
        windows = []
        for start in starts:
            count = min(per_window, info.num_frames - start)
            local = sample_indices(
                count, self.frames, sampling=d.sampling, fps=info.fps, interval=d.frame_interval
            )
            windows.append(Window(start / info.fps, (start + count) / info.fps, [start + i for i in local]))
        return windows, duration

    @torch.no_grad()
    def _group(self, images: list[np.ndarray]) -> tuple[np.ndarray, float | None]:
        """(T,) RGB frames → (num_classes,) probabilities and the valence (None without a valence head)."""
        size = self.cfg.model.image_size
        height, width = images[0].shape[:2]
        resize = sample_clip_transform(width, height, (size, size), None)
        frames = np.stack([resize(image, {})[0] for image in images])  # (T, S, S, 3)
        x = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2)[None].float()  # (1, T, 3, S, S)
        x = (x - self.mean) / self.std
        if self.stage1:
            return self.model.vit_logits(x).float().softmax(-1)[0].cpu().numpy(), None
        output = self.model(x)
        valence = None if output.valence is None else float(output.valence[0])
        return output.probs[0].float().cpu().numpy(), valence

    def predict(self, path: str | Path) -> dict:
        """Group emotion of one image or video: label, probabilities (valence), timeline.

        A video is decoded in one sequential pass and each window is predicted as soon as its
        frames are decoded; a frame is kept only until the last window that uses it, so memory
        stays flat however long the video is.
        """
        path = Path(path)
        info = probe(path)
        windows, duration = self._windows(info)
        try:
            timeline = [self._window(w, frames) for w, frames in self._window_frames(path, info, windows)]
        except TruncatedVideo as err:  # predict over what decodes, never over frames not seen
            self.notify(
                f"{path}: truncated video: header says {err.header_frames} frames, "
                f"{err.decoded_frames} decode; predicting over those"
            )
            info = replace(info, num_frames=err.decoded_frames)
            windows, duration = self._windows(info)
            timeline = [self._window(w, frames) for w, frames in self._window_frames(path, info, windows)]
        mean = np.mean([[t["probs"][c] for c in self.class_names] for t in timeline], axis=0)
        valences = [t[VALENCE_KEY] for t in timeline if VALENCE_KEY in t]
        overall = self._labelled(mean, float(np.mean(valences)) if valences else None)
        return {"input": str(path), "duration": duration, **overall, "windows": timeline}

    def _window(self, window: Window, frames: list[np.ndarray]) -> dict:
        probs, valence = self._group(frames)
        return {"start": window.start, "end": window.end, **self._labelled(probs, valence)}

    @staticmethod
    def _window_frames(
        path: Path, info: SourceInfo, windows: list[Window]
    ) -> Iterator[tuple[Window, list[np.ndarray]]]:
        """Each window with its frames, in order, as soon as they are decoded."""
        if info.kind != "video":
            wanted = sorted({i for w in windows for i in w.indices})
            decoded = dict(zip(wanted, read_frames_at(path, wanted)))
            yield from ((w, [decoded[i] for i in w.indices]) for w in windows)
            return
        last_use = {i: k for k, w in enumerate(windows) for i in w.indices}  # last window needing a frame
        buffer: dict[int, np.ndarray] = {}
        pending = iter(enumerate(windows))
        current = next(pending, None)
        for number, frame in iter_video_frames(path, list(last_use)):
            buffer[number] = frame
            while current is not None and all(i in buffer for i in current[1].indices):
                k, window = current
                yield window, [buffer[i] for i in window.indices]
                for i in set(window.indices):
                    if last_use[i] == k:
                        del buffer[i]
                current = next(pending, None)

    def _labelled(self, probs: np.ndarray, valence: float | None = None) -> dict:
        out = {
            "label": self.class_names[int(np.argmax(probs))],
            "probs": {c: round(float(p), 6) for c, p in zip(self.class_names, probs)},
        }
        if valence is not None:
            out[VALENCE_KEY] = round(valence, 6)
        return out


def check_window(window: float, name: str = "window") -> float:
    """``window`` if it is a finite number of seconds > 0, else ValueError naming ``name``."""
    try:
        seconds = float(window)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} {window!r}: expected a finite number of seconds > 0")
    return seconds
