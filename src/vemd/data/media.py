"""Reading frames from images, frame folders and video files, with the paper's frame sampling (§4.3).

A *source* is an image file (T = 1 unless the clip asks for more: the image repeats),
a folder of frame images (sorted by name), or a video file decoded with PyAV.
Frames come back as RGB uint8 (H, W, 3) arrays, together with the source frame
indices that annotation keys use.

Every file is first checked by :mod:`vemd.data.content`: a regular file (a pipe or a device is
refused before it is opened) whose bytes are an image or a video vemd reads (a text file is
refused, whatever its name); an image suffix says "image", any other name is read as what its
bytes are.

Images: Pillow reads the header first (nothing else of a file that is not an image or too large
is read), OpenCV decodes (training reads each image once, at OpenCV's speed). Grayscale,
palette, CMYK and alpha images read as RGB (alpha dropped, colours kept as stored); 16-bit
images are scaled to 8 bits; the EXIF orientation is applied. A truncated JPEG, which
OpenCV would pad with grey, is refused, never padded: its end-of-image marker must follow
its first scan (PNG: its IEND chunk must be there). Images of more than
:data:`MAX_IMAGE_PIXELS` pixels are refused with one line (8000 × 8000 reads, at 192 MB).
What libjpeg and libpng print while OpenCV decodes is captured, never shown: a JPEG whose scan
libjpeg finds corrupt is read as decoded with one notice (``notify``), or refused where a
caller verifies (``vemd data check``); their other warnings are dropped.

Videos: the frame count is the header's (``stream.frames``), or the count of decoded
frames where the header has none. A video whose header promises more frames than decode
(a cut download with the index at the front) is *truncated*; so is one without a frame count
whose decoded frames end well before the duration its header gives (a cut or damaged MKV).
Frames are never substituted:
:func:`read_video_frames` raises :class:`TruncatedVideo` (both counts) when a wanted index
does not decode, so training fails the item (or skips it under ``data.skip_bad``).
``probe(path, verify=True)`` (``vemd data check``) decodes every image and checks that a
video's last frame decodes (seek to the last keyframe, decode to the end: reads only the
tail of a healthy file); only where that fails are all frames decoded, to count them, and
:class:`TruncatedVideo` is raised. :func:`decodable_frames` gives that count to callers
that limit themselves to the frames that decode. A cut MP4 whose index was at the end
cannot be opened at all: a plain unreadable-video :class:`DataError`. Frames come out as they
are displayed: the rotation of the stream's display matrix (a phone's portrait video) is
applied, as the EXIF orientation of an image is; frames of more than :data:`MAX_IMAGE_PIXELS`
pixels are refused, by the header, before any is decoded.

Time is read from presentation timestamps, never from a frame count and a declared rate
(which a variable-frame-rate video or a WebM declaring 1000 fps makes wrong):
:func:`frame_times` gives when each frame is shown, from the packets' timestamps (demuxed,
not decoded), and :attr:`SourceInfo.duration` the duration the header gives.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vemd.data.content import check_container, media_kind, shown, source_type
from vemd.errors import DataError

log = logging.getLogger(__name__)

# vemd's own size limit below replaces Pillow's decompression-bomb warning with one line.
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # Pillow's default: about 9459 × 9459
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class SourceInfo:
    """What a source holds: frame count, frame rate (0 when unknown), kind, and for a video the
    duration in seconds its header gives (the video stream's, else the container's; 0: none).
    ``times``: when the decoded frames are shown, for a video whose header gives no frame count
    (they were decoded to count them); None otherwise (:func:`frame_times` reads them)."""

    num_frames: int
    fps: float
    kind: str  # image | folder | video
    duration: float = 0.0
    times: FrameTimes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FrameTimes:
    """When each frame of a video is shown: ``starts`` (N,) seconds from the first frame,
    ascending; ``end``, when the last one stops (the video's duration)."""

    starts: np.ndarray
    end: float

    @classmethod
    def uniform(cls, count: int, fps: float) -> FrameTimes:
        """``count`` frames at a constant ``fps``."""
        return cls(np.arange(count) / fps, count / fps)

    def first(self, count: int) -> FrameTimes:
        """The first ``count`` frames (those that decode), ending where the next one would start."""
        if count >= len(self.starts):
            return self
        return FrameTimes(self.starts[:count], float(self.starts[count]))

    @property
    def rate(self) -> float:
        """Mean frames per second (0 for a video without duration)."""
        return len(self.starts) / self.end if self.end > 0 else 0.0

    def shown_at(self, times: list[float]) -> list[int]:
        """The index of the frame shown at each of ``times`` (the last one starting at or before it)."""
        picks = np.searchsorted(self.starts, np.asarray(times) + _EPSILON, side="right") - 1
        return [int(i) for i in np.clip(picks, 0, len(self.starts) - 1)]


_EPSILON = 1e-6  # seconds: a time computed to fall on a frame's start picks that frame despite rounding


def sample_indices(
    num_frames: int, frames: int, *, sampling: str = "uniform", fps: float = 0.0, interval: float = 1.0
) -> list[int]:
    """Source frame indices for a clip of ``frames`` frames (paper §4.3).

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


def sample_times(
    start: float, end: float, frames: int, *, sampling: str = "uniform", interval: float = 1.0
) -> list[float]:
    """The times (seconds) of the ``frames`` frames a clip spanning ``[start, end)`` is sampled at:
    :func:`sample_indices` in time, so that a variable-frame-rate clip is sampled evenly in time,
    as it is shown (with a constant rate, the frames shown at these times are the indices
    :func:`sample_indices` gives).
    """
    span = end - start
    if sampling == "fps":
        first = interval / 2 if interval * frames > span else 0.0
        times = [start + first + i * interval for i in range(frames)]
        if times[-1] < end:
            return times
    elif sampling != "uniform":
        raise ValueError(f"unknown frame sampling {sampling!r} (expected 'uniform' or 'fps')")
    return [start + (i + 0.5) * span / frames for i in range(frames)]


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


class TruncatedVideo(DataError):
    """A video whose header promises ``header_frames`` frames of which only ``decoded_frames``
    decode; or, for a header without a frame count (``header_frames`` 0), whose decoded frames
    end at ``seconds[1]`` of the ``seconds[0]`` its header gives."""

    def __init__(
        self,
        path: str | Path,
        header_frames: int,
        decoded_frames: int,
        seconds: tuple[float, float] | None = None,
    ) -> None:
        said = f"{header_frames} frames, {decoded_frames} decode"
        if seconds is not None:
            said = f"{seconds[0]:.1f} s, {decoded_frames} frames decode, ending at {seconds[1]:.1f} s"
        super().__init__(f"{shown(path)}: truncated video: header says {said}")
        self.path, self.header_frames, self.decoded_frames = str(path), header_frames, decoded_frames
        self.seconds = seconds

    def __reduce__(self):  # picklable across DataLoader workers
        return type(self), (self.path, self.header_frames, self.decoded_frames, self.seconds)


def ends_early(duration: float, end: float) -> bool:
    """Whether frames ending at ``end`` fall well short of a header's ``duration`` (seconds; 0:
    none): by more than a second and 5 %, so that an audio track a little longer than the video
    (a container's duration covers every track) is not taken for a cut."""
    return duration > 0 and end < duration - max(1.0, 0.05 * duration)


def probe(path: str | Path, *, verify: bool = False) -> SourceInfo:
    """Frame count and rate of a source; DataError naming it when missing or unreadable.

    Without ``verify`` an image's header is read and a video's header trusted. With
    ``verify`` (``vemd data check``) every image is decoded and a video's tail checked;
    a truncated video raises :class:`TruncatedVideo`.
    """
    path = Path(path)
    if source_type(path) == "folder":
        files = folder_frames(path)
        if not files:
            raise DataError(f"{shown(path)}: folder holds no frame images")
        if verify:
            for file in files:
                try:
                    read_image(file, notify=_refuse)
                except DataError as err:
                    raise DataError(
                        f"{shown(path)}: frame {shown(file.name)}: {str(err).removeprefix(f'{shown(file)}: ')}"
                    ) from err
        return SourceInfo(len(files), 0.0, "folder")
    if _kind(path) == "image":
        if verify:
            read_image(path, notify=_refuse)
        else:
            with _opened(path) as file:
                _image_header(path, file)
        return SourceInfo(1, 0.0, "image")
    return _probe_video(path, verify)


def _kind(path: Path) -> str:
    """``image`` or ``video`` for a regular file: an image suffix says image (Pillow's header check
    refuses a file that is not one), otherwise its bytes tell (:func:`vemd.data.content.media_kind`)."""
    return "image" if is_image(path) else media_kind(path)


def _refuse(message: str) -> None:
    """The ``notify`` of a reader that verifies: a notice about damaged data is an error."""
    raise DataError(message.removesuffix(_READ_ANYWAY))


def decodable_frames(path: str | Path) -> int:
    """How many frames of a video decode, counted from the first (the header's count when
    its last frame decodes); DataError when the file cannot be read at all."""
    try:
        return probe(path, verify=True).num_frames
    except TruncatedVideo as err:
        return err.decoded_frames


def _probe_video(path: Path, verify: bool) -> SourceInfo:
    try:
        with _open_video(path) as container:
            stream = _video_stream(path, container)
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            duration = _header_seconds(container, stream)
            count = int(stream.frames or 0)
            times = None
            if count <= 0:  # container without a frame count: decode to count
                count, times = _count_decoded(container)
                if verify and times is not None and ends_early(duration, times.end):
                    raise TruncatedVideo(path, 0, count, (duration, times.end))
            elif verify and not _tail_decodes(container, stream, count):
                decoded, _ = _count_decoded(_open_video(path))
                if decoded == 0:
                    raise DataError(f"{shown(path)}: no frame could be decoded")
                if decoded < count:
                    raise TruncatedVideo(path, count, decoded)
    except DataError:
        raise
    except Exception as err:  # PyAV raises many FFmpeg error types
        raise DataError(f"{shown(path)}: unreadable video ({ffmpeg_reason(err)})") from err
    if count <= 0:
        raise DataError(f"{shown(path)}: video has zero frames")
    return SourceInfo(count, fps, "video", duration, times)


def _open_video(path: Path):
    """PyAV's container of a video file, opened once :func:`~vemd.data.content.source_type` says
    it is a regular file (a pipe would block, or give its data to the first opening only)."""
    import av

    if source_type(path) != "file":
        raise DataError(f"{shown(path)}: a folder, not a video")
    return av.open(str(path))


def _video_stream(path: Path, container):
    """The first video stream of an open ``container``; DataError (one line) when the container is
    not one vemd reads, holds no video, or its frames exceed :data:`MAX_IMAGE_PIXELS`."""
    check_container(path, container)
    if not container.streams.video:
        raise DataError(f"{shown(path)}: no video stream")
    stream = container.streams.video[0]
    _check_pixels(path, stream.codec_context.width, stream.codec_context.height)
    return stream


def _check_pixels(path: Path, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(
            f"{shown(path)}: video frames of {width}×{height} pixels exceed vemd's limit of "
            f"{MAX_IMAGE_PIXELS} pixels"
        )


def _header_seconds(container, stream) -> float:
    """The video's duration by its header: the stream's (Matroska keeps it in a ``DURATION`` tag),
    else the container's (which covers every track); 0 when it gives none."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d*)?)", stream.metadata.get("DURATION", "").strip())
    if tag:
        hours, minutes, seconds = tag.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return container.duration / 1_000_000 if container.duration else 0.0  # AV_TIME_BASE units


def frame_times(path: str | Path) -> FrameTimes | None:
    """When each frame of a video is shown, from its packets' presentation timestamps (demuxed,
    not decoded: the whole file is read, nothing is decoded). Packets FFmpeg marks to be
    discarded (an edit list's) are not frames; counting stops at a packet the file cuts short,
    as decoding does. None where a packet has no timestamp (the caller falls back to the frame
    count and rate); DataError when the file cannot be read.
    """
    path = Path(path)
    stamps, durations = [], []
    try:
        with _open_video(path) as container:
            stream = _video_stream(path, container)
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:
                    continue
                if packet.is_corrupt:
                    break
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    return None
                stamps.append(stamp)
                durations.append(packet.duration or 0)
            time_base, fps = stream.time_base, float(stream.average_rate or 0.0)
    except DataError:
        raise
    except Exception as err:  # PyAV raises many FFmpeg error types
        raise DataError(f"{shown(path)}: unreadable video ({ffmpeg_reason(err)})") from err
    if not stamps or time_base is None:
        return None
    order = np.argsort(stamps, kind="stable")
    ticks = np.asarray(stamps, dtype=np.float64)[order]
    return _frame_times((ticks - ticks[0]) * float(time_base), float(durations[order[-1]] * time_base), fps)


def _frame_times(starts: np.ndarray, last: float, fps: float) -> FrameTimes:
    """Frames starting at ``starts`` (ascending seconds), the last shown for ``last`` seconds
    (0: unknown, then the usual gap between frames, else one frame at the declared rate)."""
    if last <= 0:
        gaps = np.diff(starts)
        last = float(np.median(gaps)) if len(gaps) else (1 / fps if fps > 0 else 0.0)
    return FrameTimes(starts, float(starts[-1]) + last)


def ffmpeg_reason(err: Exception) -> str:
    """An FFmpeg error's own words (PyAV repeats the file name after them), else the exception."""
    return getattr(err, "strerror", None) or f"{type(err).__name__}: {err}"


def _decode(container, stream) -> Iterator:
    """The frames of ``stream`` in order, from where the container stands, up to the first
    packet the file cuts short (FFmpeg flags it corrupt) or the first decoding error after a
    frame: never a frame made from partial data."""
    frames = 0
    try:
        for packet in container.demux(stream):
            corrupt = packet.is_corrupt
            for frame in stream.decode(None if corrupt else packet):  # None: flush the decoder
                frames += 1
                yield frame
            if corrupt:
                return
    except Exception:  # PyAV raises many FFmpeg error types
        if frames == 0:
            raise


def _count_decoded(container) -> tuple[int, FrameTimes | None]:
    """How many frames of the first video stream decode (:func:`_decode`), and when they are
    shown (None where a frame has no timestamp); closes the container.

    The frames come out in the order they are shown; where damage puts out a frame stamped later
    than frames after it, it is taken to start with the earliest of those, so that the frames end
    where the last one decoded ends (a damaged decoder that puts out a stray frame from further
    on and then stops is not taken to reach that frame's time)."""
    count, stamps, last = 0, [], 0.0
    with container:
        stream = container.streams.video[0]
        for frame in _decode(container, stream):
            count += 1
            time_base = frame.time_base or stream.time_base
            if stamps is not None and frame.pts is not None and time_base is not None:
                stamps.append(float(frame.pts * time_base))
                last = float((frame.duration or 0) * time_base)
            else:
                stamps = None
    if not stamps:
        return count, None
    starts = np.minimum.accumulate(np.asarray(stamps)[::-1])[::-1]
    return count, _frame_times(starts - starts[0], last, float(stream.average_rate or 0.0))


def _tail_decodes(container, stream, count: int) -> bool:
    """Whether the frames from the last keyframe on decode up to the header's last frame.

    False also where the container gives no duration or timestamps to compare with."""
    if not stream.duration:
        return False
    end = (stream.start_time or 0) + stream.duration
    span = stream.duration / count  # one frame, in stream time_base units
    last = None
    try:
        container.seek(int(end - span), stream=stream, backward=True)
        for frame in _decode(container, stream):
            if frame.pts is not None:
                last = frame.pts if last is None else max(last, frame.pts)
    except Exception:
        return False
    return last is not None and last >= end - 1.5 * span


def _image_header(path: Path, file) -> str:
    """The format Pillow finds in the header of an image file open as binary ``file`` (its size
    checked against :data:`MAX_IMAGE_PIXELS`; only the header is read); DataError when empty,
    not an image or too large."""
    if not file.read(1):
        raise DataError(f"{shown(path)}: empty file")
    file.seek(0)
    try:
        with Image.open(file) as image:  # reads the header only
            image_format, (width, height) = image.format, image.size
    except UnidentifiedImageError as err:
        raise DataError(f"{shown(path)}: not an image (no known image format)") from err
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"{shown(path)}: unreadable image ({err})") from err
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(
            f"{shown(path)}: image of {width}×{height} pixels exceeds vemd's limit of {MAX_IMAGE_PIXELS} pixels"
        )
    return image_format


@contextmanager
def _opened(path: Path) -> Iterator:
    """``path`` open for binary reading once :func:`~vemd.data.content.source_type` says it is a
    regular file (a pipe would block or be read once); DataError naming it otherwise."""
    if source_type(path) != "file":
        raise DataError(f"{shown(path)}: a folder, not an image")
    try:
        file = path.open("rb")
    except OSError as err:
        raise DataError(f"{shown(path)}: unreadable image ({err.strerror})") from err
    with file:
        yield file


def _jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG's end-of-image marker follows its first scan. The marker segments before
    the scan are skipped by their lengths (an EXIF thumbnail, itself a whole JPEG, lies in
    one); scan data cannot hold FF D9 (an FF there is always followed by 00 or a restart)."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan
            return data.find(b"\xff\xd9", pos) != -1
        if marker == 0xFF:  # fill byte
            pos += 1
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _complete(image_format: str, data: bytes) -> bool:
    """Whether a JPEG or PNG file reaches its end (OpenCV pads a cut JPEG with grey); other
    formats are left to the decoder."""
    if image_format == "JPEG":
        return _jpeg_complete(data)
    if image_format == "PNG":
        return data.rfind(b"IEND") != -1
    return True


def read_image(path: str | Path, *, notify: Callable[[str], None] | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) of any image mode; DataError naming the file when missing, not an
    image, truncated or otherwise broken. ``notify`` (default: a logged warning) gets the one
    line saying that libjpeg found the JPEG's data corrupt (the image is read as decoded).
    """
    import cv2

    path = Path(path)
    with _opened(path) as file:
        image_format = _image_header(path, file)  # before the rest of the file is read
        file.seek(0)
        data = file.read()
    if not _complete(image_format, data):
        raise DataError(f"{shown(path)}: truncated image (the {image_format} data ends early)")
    # IMREAD_COLOR: gray, alpha and CMYK to 3-channel BGR, EXIF orientation applied; ANYDEPTH keeps 16 bits
    with _decoder_lines() as said:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        why = said[0] if said else "OpenCV cannot decode it"
        raise DataError(f"{shown(path)}: broken {image_format} image ({why})")
    damage = [line for line in said if line.startswith(_JPEG_DAMAGE)]
    if damage:
        (notify or log.warning)(f"{shown(path)}: damaged {image_format} data ({damage[0]}){_READ_ANYWAY}")
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=1 / 257)  # 0..65535 → 0..255, rounded
    elif image.dtype != np.uint8:
        raise DataError(f"{shown(path)}: {image.dtype} samples are not supported (8- or 16-bit images are)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# libjpeg's warnings that the data it decodes is damaged (its other warnings, like libpng's, concern
# metadata and are dropped); decoder lines are those, libpng's and OpenCV's own log lines
_JPEG_DAMAGE = ("Corrupt JPEG data", "Premature end of JPEG file")
_READ_ANYWAY = "; read as decoded"
_DECODER_LINE = re.compile(
    r"Corrupt JPEG|Premature end of JPEG|Invalid |Unsupported |Warning: |libpng |\[ ?(WARN|ERROR)"
)
_CAPTURE = threading.Lock()
_sink: dict[int, object] = {}  # process id → its capture file (a forked worker opens its own)


@contextmanager
def _decoder_lines() -> Iterator[list[str]]:
    """The lines libjpeg, libpng and OpenCV print to the process's stderr (file descriptor 2)
    during the block, captured instead of shown. One block runs at a time; a line another
    thread writes meanwhile is passed on to stderr."""
    lines: list[str] = []
    with _CAPTURE:
        sink = _sink.get(os.getpid())
        if sink is None:
            # kept open for the process's life; unbuffered, so that tell() is the descriptor's
            sink = _sink[os.getpid()] = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = sink.tell()
            if size:
                sink.seek(0)
                text = sink.read(size).decode(errors="replace")
                sink.seek(0)
                sink.truncate()
                for line in text.splitlines(keepends=True):
                    if _DECODER_LINE.match(line):
                        lines.append(line.strip())
                        log.debug("decoder: %s", line.strip())
                    elif sys.stderr is not None:
                        sys.stderr.write(line)


def iter_video_frames(path: str | Path, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, RGB frame)`` of each distinct index in ``indices``, in frame order, decoded in one
    sequential pass and handed out as soon as decoded (memory does not grow with the video).

    :class:`TruncatedVideo` (after the frames that did decode) when a wanted index lies past the
    last frame that decodes.
    """
    path = Path(path)
    wanted, last = set(indices), max(indices)
    found = decoded = header = 0
    try:
        with _open_video(path) as container:
            stream = _video_stream(path, container)
            header = int(stream.frames or 0)
            stream.thread_type = "AUTO"
            for number, frame in enumerate(_decode(container, stream)):
                decoded = number + 1
                if number in wanted:
                    found += 1
                    yield number, frame_rgb(path, frame)
                if number >= last:
                    break
    except (DataError, GeneratorExit):
        raise
    except Exception as err:
        raise DataError(f"{shown(path)}: unreadable video ({ffmpeg_reason(err)})") from err
    if decoded == 0:
        raise DataError(f"{shown(path)}: no frame could be decoded")
    if found < len(wanted):
        raise TruncatedVideo(path, max(header, last + 1), decoded)


def frame_rgb(source: str | Path, frame) -> np.ndarray:
    """A decoded PyAV video frame as it is displayed, RGB uint8 (H, W, 3): turned by the rotation
    of its display matrix (a phone's portrait video: side data, or the legacy ``rotate`` tag,
    which FFmpeg reads into it). DataError naming ``source`` for a frame over
    :data:`MAX_IMAGE_PIXELS` pixels (a stream may change size after its header)."""
    _check_pixels(source, frame.width, frame.height)
    image = frame.to_ndarray(format="rgb24")
    turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def read_video_frames(path: str | Path, indices: list[int]) -> list[np.ndarray]:
    """Decode the frames at ``indices`` (any order, repeats allowed) in one pass.

    :class:`TruncatedVideo` when a wanted index lies past the last frame that decodes.
    """
    found = dict(iter_video_frames(path, indices))
    return [found[i] for i in indices]


def read_frames(
    path: str | Path,
    frames: int,
    *,
    sampling: str = "uniform",
    interval: float = 1.0,
    span: tuple[int | None, int | None] | None = None,
) -> tuple[list[np.ndarray], list[int]]:
    """Sampled RGB frames of a source and their source frame indices.

    ``span``: (first, end) source frames (end exclusive, None: the source's end) that the
    frames are sampled from, as if that span were the whole clip.
    """
    path = Path(path)
    if is_image(path) and source_type(path) == "file":  # decoding is the check: one read
        return [read_image(path)] * frames, [0] * frames
    info = probe(path)
    if info.kind == "image":
        return [read_image(path)] * frames, [0] * frames
    if span is not None:
        first = max(0, span[0] or 0)
        end = min(info.num_frames, span[1] if span[1] is not None else info.num_frames)
        if end <= first:
            raise DataError(f"{shown(path)}: frames {first}:{end} lie outside its {info.num_frames} frames")
        picked = sample_indices(end - first, frames, sampling=sampling, fps=info.fps, interval=interval)
        indices = [first + i for i in picked]
    else:
        indices = clip_indices(info, frames, sampling=sampling, interval=interval)
    if info.kind == "folder":
        files = folder_frames(path)
        return [read_image(files[i]) for i in indices], indices
    return read_video_frames(path, indices), indices


def read_frames_at(
    path: str | Path, indices: list[int], *, notify: Callable[[str], None] | None = None
) -> list[np.ndarray]:
    """RGB frames at source frame ``indices`` (0 for an image), as annotation keys name them;
    ``notify`` as :func:`read_image`'s."""
    path = Path(path)
    kind = "image" if is_image(path) and source_type(path) == "file" else probe(path).kind
    if kind == "image":
        return [read_image(path, notify=notify)] * len(indices)
    if kind == "folder":
        files = folder_frames(path)
        return [read_image(files[i], notify=notify) for i in indices]
    return read_video_frames(path, indices)
