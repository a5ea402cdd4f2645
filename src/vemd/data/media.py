"""Reading frames from images, frame folders and video files, with SPEC §2 sampling.

A *source* is an image file (T = 1 unless the clip asks for more: the image repeats),
a folder of frame images (sorted by name), or a video file decoded with PyAV.
Frames come back as RGB uint8 (H, W, 3) arrays, together with the source frame
indices that annotation keys use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vemd.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class SourceInfo:
    """What a source holds: frame count, frame rate (0 when unknown) and kind."""

    num_frames: int
    fps: float
    kind: str  # image | folder | video


def sample_indices(
    num_frames: int, frames: int, *, sampling: str = "uniform", fps: float = 0.0, interval: float = 1.0
) -> list[int]:
    """Source frame indices for a clip of ``frames`` frames (SPEC §2).

    ``uniform``: ``frames`` indices spread evenly over the clip (the centres of equal
    segments). ``fps``: one frame every ``interval`` seconds from the start (VGAF: 5
    frames, 1 s apart); falls back to uniform when the clip is too short or has no rate.
    Short clips repeat frames so that T is always ``frames``.
    """
    if num_frames <= 0:
        raise ValueError("a source with zero frames cannot be sampled")
    if sampling == "fps" and fps > 0:
        step = interval * fps
        first = step / 2 if step * frames > num_frames else 0.0
        picks = [int(first + i * step) for i in range(frames)]
        if picks[-1] < num_frames:
            return picks
    elif sampling not in ("uniform", "fps"):
        raise ValueError(f"unknown frame sampling {sampling!r} (expected 'uniform' or 'fps')")
    edges = np.linspace(0, num_frames, frames + 1)
    return [min(int((lo + hi) / 2), num_frames - 1) for lo, hi in zip(edges[:-1], edges[1:])]


def clip_indices(
    info: SourceInfo, frames: int, *, sampling: str = "uniform", interval: float = 1.0
) -> list[int]:
    """Source frame indices of the ``frames`` frames a clip is read with (paper §4.3 sampling).

    Training reads these frames and annotation keys name them: an image gives 0 each time,
    a frame folder the positions in its sorted file list, a video its decoded frame numbers.
    """
    if info.kind == "image":
        return [0] * frames
    return sample_indices(info.num_frames, frames, sampling=sampling, fps=info.fps, interval=interval)


def folder_frames(path: Path) -> list[Path]:
    """The frame images of a frame folder, in the sorted name order frame indices count."""
    return sorted(p for p in path.iterdir() if is_image(p))


def probe(path: str | Path) -> SourceInfo:
    """Frame count and rate of a source; DataError naming it when missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        count = len(folder_frames(path))
        if count == 0:
            raise DataError(f"{path}: folder holds no frame images")
        return SourceInfo(count, 0.0, "folder")
    if is_image(path):
        return SourceInfo(1, 0.0, "image")
    return _probe_video(path)


def _probe_video(path: Path) -> SourceInfo:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            count = int(stream.frames or 0)
            if count <= 0:  # container without a frame count: decode to count
                count = sum(1 for _ in container.decode(stream))
    except DataError:
        raise
    except Exception as err:  # PyAV raises many FFmpeg error types
        raise DataError(f"{path}: unreadable video ({type(err).__name__}: {err})") from err
    if count <= 0:
        raise DataError(f"{path}: video has zero frames")
    return SourceInfo(count, fps, "video")


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); DataError naming the file when unreadable."""
    import cv2

    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise DataError(f"{path}: missing or unreadable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_video_frames(path: str | Path, indices: list[int]) -> list[np.ndarray]:
    """Decode the frames at ``indices`` (any order, repeats allowed) in one pass."""
    import av

    path = Path(path)
    wanted = sorted(set(indices))
    found: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for number, frame in enumerate(container.decode(stream)):
                if number in wanted:
                    found[number] = frame.to_ndarray(format="rgb24")
                if number >= wanted[-1]:
                    break
    except Exception as err:
        raise DataError(f"{path}: unreadable video ({type(err).__name__}: {err})") from err
    if not found:
        raise DataError(f"{path}: no frame could be decoded")
    # A truncated file may end before the last wanted index: reuse the nearest earlier frame.
    decoded = sorted(found)
    return [found[max((k for k in decoded if k <= i), default=decoded[0])] for i in indices]


def read_frames(
    path: str | Path, frames: int, *, sampling: str = "uniform", interval: float = 1.0
) -> tuple[list[np.ndarray], list[int]]:
    """Sampled RGB frames of a source and their source frame indices."""
    path = Path(path)
    info = probe(path)
    indices = clip_indices(info, frames, sampling=sampling, interval=interval)
    if info.kind == "image":
        return [read_image(path)] * frames, indices
    if info.kind == "folder":
        files = folder_frames(path)
        return [read_image(files[i]) for i in indices], indices
    return read_video_frames(path, indices), indices


def read_frames_at(path: str | Path, indices: list[int]) -> list[np.ndarray]:
    """RGB frames at source frame ``indices`` (0 for an image), as annotation keys name them."""
    path = Path(path)
    kind = probe(path).kind
    if kind == "image":
        return [read_image(path)] * len(indices)
    if kind == "folder":
        files = folder_frames(path)
        return [read_image(files[i]) for i in indices]
    return read_video_frames(path, indices)
