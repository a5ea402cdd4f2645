"""A split's audio for the ABAW 2024 audio model: its windows, their samples and targets.

Given what a split's items were read for (their sampled frames' source numbers, targets and,
with ``voice_activity: mouth``, mouth openings, :mod:`~vemd.systems.abaw24.mouth`), their
sources' audio is cut into §4.2.1's windows (:mod:`~vemd.systems.abaw24.audio_windows`) and read
mono at 16 kHz (:func:`vemd.data.multimodal.read_clips`). Training reads it
(:mod:`~vemd.systems.abaw24.audio_fit`, which reads the items); ``vemd test`` gets the audio
model's predictions at a split's sampled frames from :func:`split_audio_frames`, without the
training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vemd.config import Config
from vemd.data.audio import SAMPLE_RATE
from vemd.data.multimodal import read_clips
from vemd.systems.abaw24.audio_windows import SplitWindows, split_windows


@dataclass
class AudioSplit:
    """A split's audio windows: where they lie, their samples, targets and which ones train."""

    windows: SplitWindows
    waveforms: torch.Tensor  # (W, L) float16, zero-padded
    lengths: torch.Tensor  # (W,) samples heard (a window without audio: L of zeros)
    targets: torch.Tensor  # (W, 2) float32, NaN: no labelled frame inside
    usable: torch.Tensor  # (W,) bool: heard, voiced and labelled in both dimensions
    counts: dict


def audio_split(
    cfg: Config, dataset, indices, targets: np.ndarray, openings: np.ndarray | None
) -> AudioSplit:
    """The windows of a split whose items were read at source frames ``indices`` (N, T), with
    targets (N, T, 2) and mouth openings (N, T) (None: every window counts as voiced)."""
    au = cfg.system.abaw24.audio
    windows = split_windows(dataset, indices, au.window_s, au.step_s)
    clips = read_clips(
        windows.paths,
        [tuple(span) for span in windows.spans],
        au.window_s,
        workers=cfg.train.num_workers,
        skip_bad=cfg.data.skip_bad,
    )
    length = round(au.window_s * SAMPLE_RATE)
    heard = torch.tensor([len(s) for s in clips.samples], dtype=torch.long)
    voiced = (
        windows.voiced(openings, mouth_open=au.mouth_open, voiced_fraction=au.voiced_fraction)
        if openings is not None
        else np.ones(len(windows.spans), dtype=bool)
    )
    window_targets = torch.from_numpy(windows.targets(targets)).float().reshape(-1, 2)
    labelled = torch.isfinite(window_targets).all(1)
    usable = clips.present & torch.from_numpy(voiced) & labelled
    counts = {
        "windows": len(windows.spans),
        "without audio": int((~clips.present).sum()),
        "silent (mouth closed)": int((~torch.from_numpy(voiced)).sum()),
        "unlabelled": int((~labelled).sum()),
        "trained or scored": int(usable.sum()),
    }
    return AudioSplit(
        windows,
        clips.padded(length),
        torch.where(clips.present, heard, length),
        window_targets,
        usable,
        counts,
    )


@torch.no_grad()
def split_audio_frames(model, cfg: Config, dataset, indices, targets: np.ndarray) -> np.ndarray:
    """The audio model's predictions at a split's sampled frames (N, T, 2), every window heard
    (voiced or not), for :meth:`~vemd.systems.abaw24.model.ABAW24.predictions` (``vemd test``);
    the items were read at source frames ``indices`` (N, T), with targets (N, T, 2)."""
    part = audio_split(cfg, dataset, indices, targets, None)
    preds = model.audio.eval().predict(part.waveforms, part.lengths, cfg.system.abaw24.audio.train.batch_size)
    return part.windows.frames(preds.numpy())
