"""Reading frames from images, frame folders and video files, with the paper's frame sampling (§4.3).

A *source* is an image file (T = 1 unless the clip asks for more: the image repeats),
a folder of frame images (sorted by name), or a video file decoded with PyAV.
Frames come back as RGB uint8 (H, W, 3) arrays, together with the source frame
indices that annotation keys use.

Images: Pillow reads the header, whatever the suffix says (an empty or text file is
refused), OpenCV decodes (training reads each image once, at OpenCV's speed). Grayscale,
palette, CMYK and alpha images read as RGB (alpha dropped, colours kept as stored); 16-bit
images are scaled to 8 bits; the EXIF orientation is applied. A truncated JPEG, which
OpenCV would pad with grey, is refused, never padded: its end-of-image marker must follow
its first scan (PNG: its IEND chunk must be there). Images of more than
:data:`MAX_IMAGE_PIXELS` pixels are refused with one line (8000 × 8000 reads, at 192 MB).

Videos: the frame count is the header's (``stream.frames``), or the count of decoded
frames where the header has none. A video whose header promises more frames than decode
(a cut download with the index at the front) is *truncated*. Frames are never substituted:
:func:`read_video_frames` raises :class:`TruncatedVideo` (both counts) when a wanted index
does not decode, so training fails the item (or skips it under ``data.skip_bad``).
``probe(path, verify=True)`` (``vemd data check``) decodes every image and checks that a
video's last frame decodes (seek to the last keyframe, decode to the end: reads only the
tail of a healthy file); only where that fails are all frames decoded, to count them, and
:class:`TruncatedVideo` is raised. :func:`decodable_frames` gives that count to callers
that limit themselves to the frames that decode. A cut MP4 whose index was at the end
cannot be opened at all: a plain unreadable-video :class:`DataError`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vemd.errors import DataError

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
    """What a source holds: frame count, frame rate (0 when unknown) and kind."""

    num_frames: int
    fps: float
    kind: str  # image | folder | video


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
    """A video whose header promises ``header_frames`` frames of which only ``decoded_frames`` decode."""

    def __init__(self, path: str | Path, header_frames: int, decoded_frames: int) -> None:
        super().__init__(
            f"{path}: truncated video: header says {header_frames} frames, {decoded_frames} decode"
        )
        self.path, self.header_frames, self.decoded_frames = str(path), header_frames, decoded_frames

    def __reduce__(self):  # picklable across DataLoader workers
        return type(self), (self.path, self.header_frames, self.decoded_frames)


def probe(path: str | Path, *, verify: bool = False) -> SourceInfo:
    """Frame count and rate of a source; DataError naming it when missing or unreadable.

    Without ``verify`` an image's header is read and a video's header trusted. With
    ``verify`` (``vemd data check``) every image is decoded and a video's tail checked;
    a truncated video raises :class:`TruncatedVideo`.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        files = folder_frames(path)
        if not files:
            raise DataError(f"{path}: folder holds no frame images")
        if verify:
            for file in files:
                try:
                    read_image(file)
                except DataError as err:
                    raise DataError(
                        f"{path}: frame {file.name}: {str(err).removeprefix(f'{file}: ')}"
                    ) from err
        return SourceInfo(len(files), 0.0, "folder")
    if is_image(path):
        if verify:
            read_image(path)
        else:
            _image_header(path, _read_bytes(path))
        return SourceInfo(1, 0.0, "image")
    return _probe_video(path, verify)


def decodable_frames(path: str | Path) -> int:
    """How many frames of a video decode, counted from the first (the header's count when
    its last frame decodes); DataError when the file cannot be read at all."""
    try:
        return probe(path, verify=True).num_frames
    except TruncatedVideo as err:
        return err.decoded_frames


def _probe_video(path: Path, verify: bool) -> SourceInfo:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            count = int(stream.frames or 0)
            if count <= 0:  # container without a frame count: decode to count
                count = _count_decoded(container)
            elif verify and not _tail_decodes(container, stream, count):
                decoded = _count_decoded(av.open(str(path)))
                if decoded == 0:
                    raise DataError(f"{path}: no frame could be decoded")
                if decoded < count:
                    raise TruncatedVideo(path, count, decoded)
    except DataError:
        raise
    except Exception as err:  # PyAV raises many FFmpeg error types
        raise DataError(f"{path}: unreadable video ({ffmpeg_reason(err)})") from err
    if count <= 0:
        raise DataError(f"{path}: video has zero frames")
    return SourceInfo(count, fps, "video")


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


def _count_decoded(container) -> int:
    """How many frames of the first video stream decode (:func:`_decode`); closes the container."""
    with container:
        return sum(1 for _ in _decode(container, container.streams.video[0]))


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


def _image_header(path: Path, data: bytes) -> str:
    """The format Pillow finds in an image file's header (its size checked against
    :data:`MAX_IMAGE_PIXELS`); DataError when empty, not an image or too large."""
    if not data:
        raise DataError(f"{path}: empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            image_format, (width, height) = image.format, image.size
    except UnidentifiedImageError as err:
        raise DataError(f"{path}: not an image (no known image format)") from err
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise DataError(f"{path}: unreadable image ({err})") from err
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(
            f"{path}: image of {width}×{height} pixels exceeds vemd's limit of {MAX_IMAGE_PIXELS} pixels"
        )
    return image_format


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError) as err:
        raise DataError(f"{path}: missing image") from err
    except OSError as err:
        raise DataError(f"{path}: unreadable image ({err.strerror})") from err


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


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 (H, W, 3) of any image mode; DataError naming the file when missing, not an
    image, truncated or otherwise broken."""
    import cv2

    path = Path(path)
    data = _read_bytes(path)
    image_format = _image_header(path, data)
    if not _complete(image_format, data):
        raise DataError(f"{path}: truncated image (the {image_format} data ends early)")
    # IMREAD_COLOR: gray, alpha and CMYK to 3-channel BGR, EXIF orientation applied; ANYDEPTH keeps 16 bits
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise DataError(f"{path}: broken {image_format} image (OpenCV cannot decode it)")
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=1 / 257)  # 0..65535 → 0..255, rounded
    elif image.dtype != np.uint8:
        raise DataError(f"{path}: {image.dtype} samples are not supported (8- or 16-bit images are)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def iter_video_frames(path: str | Path, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, RGB frame)`` of each distinct index in ``indices``, in frame order, decoded in one
    sequential pass and handed out as soon as decoded (memory does not grow with the video).

    :class:`TruncatedVideo` (after the frames that did decode) when a wanted index lies past the
    last frame that decodes.
    """
    import av

    path = Path(path)
    wanted, last = set(indices), max(indices)
    found = decoded = header = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            header = int(stream.frames or 0)
            stream.thread_type = "AUTO"
            for number, frame in enumerate(_decode(container, stream)):
                decoded = number + 1
                if number in wanted:
                    found += 1
                    yield number, frame.to_ndarray(format="rgb24")
                if number >= last:
                    break
    except (DataError, GeneratorExit):
        raise
    except Exception as err:
        raise DataError(f"{path}: unreadable video ({ffmpeg_reason(err)})") from err
    if decoded == 0:
        raise DataError(f"{path}: no frame could be decoded")
    if found < len(wanted):
        raise TruncatedVideo(path, max(header, last + 1), decoded)


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
    if is_image(path) and path.is_file():  # decoding is the check: one read
        return [read_image(path)] * frames, [0] * frames
    info = probe(path)
    if span is not None and info.kind != "image":
        first = max(0, span[0] or 0)
        end = min(info.num_frames, span[1] if span[1] is not None else info.num_frames)
        if end <= first:
            raise DataError(f"{path}: frames {first}:{end} lie outside its {info.num_frames} frames")
        picked = sample_indices(end - first, frames, sampling=sampling, fps=info.fps, interval=interval)
        indices = [first + i for i in picked]
    else:
        indices = clip_indices(info, frames, sampling=sampling, interval=interval)
    if info.kind == "folder":
        files = folder_frames(path)
        return [read_image(files[i]) for i in indices], indices
    return read_video_frames(path, indices), indices


def read_frames_at(path: str | Path, indices: list[int]) -> list[np.ndarray]:
    """RGB frames at source frame ``indices`` (0 for an image), as annotation keys name them."""
    path = Path(path)
    if is_image(path) and path.is_file():
        return [read_image(path)] * len(indices)
    if probe(path).kind == "folder":
        files = folder_frames(path)
        return [read_image(files[i]) for i in indices]
    return read_video_frames(path, indices)
