"""AffWild2 (ABAW Valence-Arousal Estimation Challenge): long videos cut into windows.

Layout (as distributed for the ABAW VA track)::

    ROOT/videos/[batch1/, batch2/]<video>.mp4 (or .avi)        searched under ROOT/videos
    ROOT/annotations/VA_Estimation_Challenge/Train_Set/<name>.txt
    ROOT/annotations/VA_Estimation_Challenge/Validation_Set/<name>.txt

An annotation file has the header ``valence,arousal`` and one line per video frame, -5 where
a frame is not annotated (:mod:`vemd.data.va`); its length may differ from the video's frame
count by a few frames, as in the distribution (frames past its end have no target). A video
showing two annotated people has ``<video>_left.txt`` and ``<video>_right.txt``, read from
``<video>_left.mp4`` / ``<video>_right.mp4`` where such a video exists, else from
``<video>.mp4``. The folder ``VA_Set`` (earlier releases) is read in place of
``VA_Estimation_Challenge``, and ``ROOT/VA_Estimation_Challenge`` in place of
``ROOT/annotations/VA_Estimation_Challenge``. ``ROOT/annotations`` holds these labels, so a
structure store (``vemd annotate``) needs a folder of its own, given by ``data.annotations``.

Face crops (optional, as distributed)::

    ROOT/cropped_aligned/<name>/<frame>.jpg      <frame> = frame index + 1, five digits: 00001.jpg

one folder per annotation file (``<video>_left`` / ``<video>_right`` for two people), 112 ×
112 aligned faces, no file for a frame where no face was found (so a folder's files are not
its video's frames in order: a crop is found by its name, :func:`face_crop_file`). The loader
lists videos, never crops; a system that reads faces opens them (the ABAW 2024 system's
``faces: cropped_aligned``).

Splits: ``train`` = ``Train_Set``; ``val`` = ``Validation_Set``; ``test`` reads
``Validation_Set`` too, as ABAW papers report on validation (the official test set has no
public labels).

Windows: the videos last minutes, so each one is cut into non-overlapping windows of
``data.frames`` × ``data.frame_interval`` seconds (``round(frames · interval · fps)`` source
frames; the last window holds what is left), one :class:`ClipRecord` each, with clip id
``<name>@<start_frame>``, ``start_frame``/``end_frame`` and ``va_file``: the Dataset samples
its T frames inside the window and returns their per-frame values. ``valence``/``arousal``
are the means over the window's valid frames (both values annotated); a window without one
is left out (counted in a log line). The classes ``negative`` (mean valence < -0.1),
``neutral``, ``positive`` (> 0.1) are a convenience for stratified folds and reports, not an
AffWild2 label. vemd's default sampling is 16 frames 0.2 s apart (3.2 s windows); this
dataset is not in the paper.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vemd.config import DataConfig
from vemd.data.loaders import register
from vemd.data.loaders.common import (
    Problems,
    child_dir,
    problem,
    relative,
    split_alias,
    videos_by_stem,
    walk_files,
)
from vemd.data.manifest import ClipRecord
from vemd.data.media import SourceInfo, probe
from vemd.data.va import read_va_file
from vemd.errors import DataError, MissingSplit

log = logging.getLogger(__name__)

CLASS_NAMES = ["negative", "neutral", "positive"]
NEUTRAL_BAND = 0.1  # |mean valence| <= this is "neutral"
SPLITS = {"train": ("Train_Set",), "val": ("Validation_Set",), "test": ("Validation_Set",)}
TRACK_FOLDERS = ("VA_Estimation_Challenge", "VA_Set")
PERSON_SUFFIXES = ("_left", "_right")
CROPPED_ALIGNED = "cropped_aligned"


def video_name(clip_id: str) -> str:
    """The annotation name of a window, from its clip id ``<name>@<start_frame>``."""
    return clip_id.rpartition("@")[0] or clip_id


def person_side(name: str) -> str | None:
    """``left`` / ``right`` for the annotation of one of a video's two people, else None."""
    return next((s.lstrip("_") for s in PERSON_SUFFIXES if name.endswith(s)), None)


def face_crop_file(root: Path, name: str, frame: int) -> Path:
    """The ``cropped_aligned`` face of source frame ``frame`` (0-based) of annotation ``name``."""
    return Path(root) / CROPPED_ALIGNED / name / f"{frame + 1:05d}.jpg"


def valence_class(valence: float) -> str:
    """The convenience class of a mean valence (see the module docstring)."""
    if valence < -NEUTRAL_BAND:
        return "negative"
    return "positive" if valence > NEUTRAL_BAND else "neutral"


def window_length(fps: float, frames: int, interval: float) -> int:
    """Source frames of one window: ``frames`` sampled frames ``interval`` seconds apart."""
    return max(1, round(frames * interval * fps))


def windows(num_frames: int, length: int) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) spans of ``length`` frames; the last one may be shorter."""
    return [(start, min(start + length, num_frames)) for start in range(0, num_frames, length)]


def split_folder(root: Path, split: str) -> Path:
    """The annotation folder of ``split`` (MissingSplit naming it when absent)."""
    names = split_alias(split, SPLITS, "affwild2")
    for parent in (child_dir(root, ("annotations",)), root):
        track = child_dir(parent, TRACK_FOLDERS) if parent is not None else None
        folder = child_dir(track, names) if track is not None else None
        if folder is not None:
            return folder
    raise MissingSplit(
        f"{root / 'annotations' / TRACK_FOLDERS[0] / names[0]}: missing AffWild2 annotation folder"
    )


def video_for(name: str, videos: dict[str, Path]) -> Path | None:
    """The video of annotation ``name``: its own, else the one without ``_left``/``_right``."""
    if name in videos:
        return videos[name]
    base = next((name.removesuffix(s) for s in PERSON_SUFFIXES if name.endswith(s)), None)
    return videos.get(base) if base else None


def _targets(path: Path, problems: Problems | None) -> np.ndarray | None:
    """The per-frame values of ``path``; None (reported, naming file:line) when unreadable."""
    try:
        return read_va_file(str(path))
    except DataError as err:
        if problems is None:
            raise
        where, _, message = str(err).removeprefix(str(path)).partition(": ")
        problem(problems, f"{path}{where}", message)
        return None


@register("affwild2", splits=("train", "val"), frames=16, sampling="fps", interval=0.2)
def load_affwild2(
    cfg: DataConfig, split: str, problems: Problems | None
) -> tuple[list[ClipRecord], list[str]]:
    root = Path(cfg.root)
    folder = split_folder(root, split)
    annotations = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
    if not annotations:
        raise DataError(f"{folder}: no <name>.txt annotation files")
    videos_dir = child_dir(root, ("videos",))
    if videos_dir is None:
        raise DataError(f"{root / 'videos'}: missing AffWild2 videos folder")
    videos = videos_by_stem(walk_files(videos_dir))
    infos: dict[Path, SourceInfo] = {}  # the two people of a video share one probe
    records, empty = [], 0
    for annotation in annotations:
        name, video = annotation.stem, video_for(annotation.stem, videos)
        if video is None:
            problem(problems, annotation, f"no video {name}.mp4 (or without _left/_right) under {videos_dir}")
            continue
        values = _targets(annotation, problems)
        if values is None:
            continue
        try:
            if video not in infos:
                infos[video] = probe(video)
        except DataError as err:
            problem(problems, video, str(err).removeprefix(f"{video}: "))
            continue
        info = infos[video]
        if info.fps <= 0:
            problem(problems, video, "no frame rate in the video header (needed to cut windows)")
            continue
        length = window_length(info.fps, cfg.frames, cfg.frame_interval)
        for start, end in windows(info.num_frames, length):
            span = values[start:end]
            valid = span[np.isfinite(span).all(axis=1)]
            if not len(valid):
                empty += 1
                continue
            valence, arousal = (float(v) for v in valid.mean(axis=0))
            records.append(
                ClipRecord(
                    f"{name}@{start}",
                    split,
                    valence_class(valence),
                    relative(root, video),
                    valence=valence,
                    arousal=arousal,
                    va_file=relative(root, annotation),
                    start_frame=start,
                    end_frame=end,
                )
            )
    if empty:
        log.info("%s: %d window(s) without a valid frame left out of split %r", folder, empty, split)
    return records, list(CLASS_NAMES)
