"""``vemd predict VIDEO --out DIR --render``: the video with its group-level prediction drawn on it.

Each frame of the input is written again with a strip along its bottom edge: the label of the
window the frame falls in, with its probability, and a bar split among the classes in
proportion to their probabilities (a regression system's valence and arousal as text). The
strip is the only change: nothing is drawn per person (no box, no face, no track), and the
frames above it are the input's, re-encoded (H.264, at the input's frame times, so the frame
count and duration stay). The output holds the input's frames, so it is written only when asked
for (``--render``), under a temporary name, then renamed; the audio track is not copied.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from vemd.errors import DataError
from vemd.io import atomic_write

STRIP_FRACTION = 0.12  # of the frame height
MIN_STRIP = 24  # px: room for a line of text and the bar
# Class colours (RGB), in the model's class order, repeated past the eighth class.
COLOURS = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (153, 153, 153),
)
SUFFIX = ".rendered.mp4"


def rendered_name(path: str | Path) -> str:
    """``<input stem>.rendered.mp4``."""
    return f"{Path(path).stem}{SUFFIX}"


def strip_height(height: int) -> int:
    """Rows of the strip in a frame ``height`` px high: even (whole chroma rows in yuv420p)."""
    rows = max(MIN_STRIP, round(height * STRIP_FRACTION))
    return min(height, rows + rows % 2)


def draw_strip(rgb: np.ndarray, label: str | None, probs: dict | None, text: str | None = None) -> None:
    """Draw the strip on an RGB frame (H, W, 3) uint8, in place: its bottom :func:`strip_height`
    rows only. ``text`` replaces the label line where there are no class probabilities."""
    import cv2

    height, width = rgb.shape[:2]
    rows = strip_height(height)
    top = height - rows
    rgb[top:] = rgb[top:] // 4  # darkened, so that the text reads over any scene
    middle = top + rows // 2
    scale = max(0.3, (rows / 2 - 4) / 22)  # HERSHEY_SIMPLEX is about 22 px high at scale 1
    font = cv2.FONT_HERSHEY_SIMPLEX
    thick = max(1, round(scale))
    line = f"{label} {probs[label]:.2f}" if probs and label is not None else (text or "")
    cv2.putText(rgb, line, (4, middle - 3), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    if not probs:
        return
    edges = np.round(np.cumsum([0.0, *probs.values()]) / max(sum(probs.values()), 1e-12) * width).astype(int)
    for k, (name, start, end) in enumerate(zip(probs, edges[:-1], edges[1:], strict=True)):
        if end > start:
            cv2.rectangle(
                rgb, (int(start), middle), (int(end) - 1, height - 1), COLOURS[k % len(COLOURS)], -1
            )
        (w, h), _ = cv2.getTextSize(name, font, scale * 0.8, thick)
        if w + 4 <= end - start and h + 4 <= height - middle:
            cv2.putText(
                rgb, name, (int(start) + 2, height - 3), font, scale * 0.8, (0, 0, 0), thick, cv2.LINE_AA
            )


def render_video(path: str | Path, result, out: str | Path) -> Path:
    """Write ``path`` with ``result``'s windows drawn on it to ``out`` (an ``.mp4``); returns ``out``.

    ``result``: the :class:`~vemd.inference.results.GroupEmotion` of ``path``. A frame at ``t``
    seconds from the first shows the latest window that starts at or before ``t``.
    """
    out = Path(out)
    try:
        atomic_write(out, lambda handle: _encode(path, result, handle))
    except _av_error() as err:  # an encoder this FFmpeg lacks, a frame size it refuses
        raise DataError(f"{out}: could not render {path} ({err})") from err
    return out


def _av_error() -> type[Exception]:
    import av

    return av.error.FFmpegError


def _encode(path: str | Path, result, handle) -> None:
    """Decode ``path``, draw ``result`` on each frame and encode it as MP4 into ``handle``."""
    import av

    starts = np.array([window.start for window in result.windows])
    with av.open(str(path)) as source, av.open(handle, "w", format="mp4") as target:
        video = source.streams.video[0]
        width, height = video.codec_context.width, video.codec_context.height
        stream = target.add_stream("libx264", rate=video.average_rate or 25)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        stream.time_base = video.time_base
        stream.options = {"crf": "18"}
        first = None
        for count, frame in enumerate(source.decode(video)):
            first = frame.time if first is None else first
            rgb = frame.to_ndarray(format="rgb24")
            _draw_at(rgb, result, starts, (frame.time or 0.0) - (first or 0.0))
            drawn = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if frame.pts is not None:  # the input's frame times: same count, same duration
                drawn.pts, drawn.time_base = frame.pts, video.time_base
            else:
                drawn.pts, drawn.time_base = count, 1 / Fraction(stream.rate)
            target.mux(stream.encode(drawn))
        target.mux(stream.encode())


def _draw_at(rgb: np.ndarray, result, starts: np.ndarray, t: float) -> None:
    index = max(int(np.searchsorted(starts, t + 1e-6, side="right")) - 1, 0) if len(starts) else None
    item = result if index is None else result.windows[index]
    text = None
    if item.probs is None:
        parts = [
            f"{name} {value:.2f}"
            for name in ("valence", "arousal")
            if (value := getattr(item, name)) is not None
        ]
        text = ", ".join(parts)
    draw_strip(rgb, item.label, item.probs, text)
