"""Broken and unusual media files, written on demand into a given folder.

Each function writes one file (nothing binary lives in the repository) and returns its
path; ``name`` overrides the file name. Good-but-unusual images (CMYK, 16-bit, alpha,
grayscale, huge) must read as RGB uint8 (H, W, 3); broken ones must be refused with one
line naming the file. Videos are tiny MPEG-4 clips whose frame k has grey level 4·k.

Images: :func:`zero_byte_jpg`, :func:`truncated_jpeg`, :func:`truncated_jpeg_with_thumbnail`, :func:`truncated_png`,
:func:`text_named_jpg`, :func:`cmyk_jpeg`, :func:`png16`, :func:`rgba_png`,
:func:`gray_jpeg`, :func:`huge_image`, :func:`corrupt_jpeg` (a whole JPEG whose scan is damaged).
Videos: :func:`video` (any frame count, 0 and 1 included), :func:`cut_mp4` (an MP4 cut in half,
index first or last), :func:`timed_video` (frames at chosen presentation times: variable frame
rate, a WebM declaring 1000 fps), :func:`cut_mkv` and :func:`corrupt_mkv` (no frame count in
the header; cut in half, or damaged in the middle so that decoding stops), :func:`rotated_mp4`
(a phone's portrait video: landscape frames and a display matrix). Not media:
:func:`text_file`.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

WIDTH, HEIGHT = 64, 48


def _pattern(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A gradient RGB uint8 (H, W, 3) image, so that a truncation loses visible content."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], -1).astype(
        np.uint8
    )


def _target(folder: Path, name: str) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def zero_byte_jpg(folder: Path, name: str = "zero.jpg") -> Path:
    """An empty file named ``.jpg``."""
    path = _target(folder, name)
    path.write_bytes(b"")
    return path


def good_jpeg(folder: Path, name: str = "good.jpg") -> Path:
    """A valid 64×48 RGB JPEG (the reference the broken ones are cut from)."""
    path = _target(folder, name)
    Image.fromarray(_pattern()).save(path, quality=90)
    return path


def good_png(folder: Path, name: str = "good.png") -> Path:
    """A valid 64×48 RGB PNG."""
    path = _target(folder, name)
    Image.fromarray(_pattern()).save(path)
    return path


def _cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def truncated_jpeg(folder: Path, name: str = "truncated.jpg") -> Path:
    """A JPEG cut at 60 % of its bytes (no end-of-image marker; OpenCV pads it grey)."""
    return _cut(good_jpeg(folder, name), 0.6)


def truncated_jpeg_with_thumbnail(folder: Path, name: str = "truncated_thumb.jpg") -> Path:
    """A truncated JPEG that carries a whole small JPEG (a thumbnail, as EXIF does) in an APP1
    segment before its own data: the file still holds an end-of-image marker, the thumbnail's."""
    path = good_jpeg(folder, name)
    thumbnail = io.BytesIO()
    Image.fromarray(_pattern(8, 8)).save(thumbnail, format="JPEG")
    payload = b"Exif\x00\x00" + thumbnail.getvalue()
    data = path.read_bytes()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    path.write_bytes(data[:2] + segment + data[2:])
    return _cut(path, 0.8)


def truncated_png(folder: Path, name: str = "truncated.png") -> Path:
    """A PNG cut at 60 % of its bytes (no IEND chunk)."""
    path = _target(folder, name)
    Image.fromarray(_pattern(96, 128)).save(path, compress_level=0)
    return _cut(path, 0.6)


def text_named_jpg(folder: Path, name: str = "text.jpg") -> Path:
    """A text file named ``.jpg``."""
    path = _target(folder, name)
    path.write_text("this is not an image\n")
    return path


def cmyk_jpeg(folder: Path, name: str = "cmyk.jpg") -> Path:
    """A valid CMYK JPEG (Pillow writes it inverted, as Adobe does)."""
    path = _target(folder, name)
    Image.fromarray(_pattern()).convert("CMYK").save(path, quality=95)
    return path


def png16(folder: Path, name: str = "png16.png") -> Path:
    """A valid 16-bit RGB PNG whose 8-bit view is the reference pattern (value·257)."""
    path = _target(folder, name)
    bgr = cv2.cvtColor(_pattern(), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    cv2.imwrite(str(path), bgr)
    return path


def rgba_png(folder: Path, name: str = "rgba.png") -> Path:
    """A valid RGBA PNG: the reference pattern with a half-transparent alpha channel."""
    path = _target(folder, name)
    rgba = np.concatenate([_pattern(), np.full((HEIGHT, WIDTH, 1), 128, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def gray_jpeg(folder: Path, name: str = "gray.jpg") -> Path:
    """A valid single-channel (grayscale) JPEG."""
    path = _target(folder, name)
    Image.fromarray(_pattern()[..., 0], "L").save(path, quality=95)
    return path


def huge_image(folder: Path, name: str = "huge.jpg", size: int = 8000) -> Path:
    """A valid ``size``×``size`` JPEG (8000 × 8000 = 64 Mpixel by default, about 1 MB on disk)."""
    path = _target(folder, name)
    Image.new("RGB", (size, size), (90, 120, 150)).save(path, quality=50)
    return path


def video(
    folder: Path,
    frames: int = 40,
    name: str | None = None,
    *,
    fps: int = 10,
    faststart: bool = False,
    noise: bool = False,
    codec: str = "mpeg4",
) -> Path:
    """A 64×48 MP4 video with ``frames`` frames (0 allowed: the MP4 then holds no video track).

    Frame k has grey level 4·k, or is random noise with ``noise`` (large packets, so a
    byte cut falls between frames). ``faststart`` moves the index (moov box) to the front.
    ``codec`` is a PyAV encoder name (``mpeg4``, ``libx264``).
    """
    path = _target(folder, name or f"video{frames}.mp4")
    options = {"movflags": "faststart"} if faststart else {}
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="mp4", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
        for k in range(frames):
            if noise:
                image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            else:
                image = np.full((HEIGHT, WIDTH, 3), (4 * k) % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def cut_mp4(
    folder: Path, index_first: bool = True, name: str | None = None, *, frames: int = 40, codec: str = "mpeg4"
) -> Path:
    """A ``frames``-frame noise MP4 cut at half its bytes.

    ``index_first`` (faststart): the header still says ``frames`` frames but only about
    half decode (``mpeg4``: 12 of 40, ``libx264``: 19 of 40; FFmpeg flags the cut packet as
    corrupt, and an H.264 decoder raises on it). Index last: the cut removes the index and
    the file cannot be opened.
    """
    name = name or ("cut_index_first.mp4" if index_first else "cut_index_last.mp4")
    return _cut(video(folder, frames, name, faststart=index_first, noise=True, codec=codec), 0.5)


def corrupt_jpeg(folder: Path, name: str = "corrupt.jpg") -> Path:
    """A 320×240 JPEG that ends as it should but whose scan is damaged in the middle (64 bytes
    zeroed, a stray restart marker): libjpeg warns "Corrupt JPEG data" and decodes garbage."""
    path = _target(folder, name)
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=90)
    data = bytearray(path.read_bytes())
    scan = data.index(b"\xff\xda")
    middle = scan + (len(data) - scan) // 2
    data[middle : middle + 64] = bytes(64)
    data[middle + 10 : middle + 12] = b"\xff\xd0"
    path.write_bytes(bytes(data))
    return path


def text_file(folder: Path, name: str = "notes.txt", size: int = 4000) -> Path:
    """A few KB of plain text (FFmpeg's ``tty`` demuxer would render it as video)."""
    path = _target(folder, name)
    line = "Meeting notes: everyone smiled, then the coffee ran out.\n"
    path.write_text(line * (size // len(line) + 1))
    return path


def timed_video(
    folder: Path,
    times: list[float],
    name: str = "timed.mkv",
    *,
    format: str = "matroska",
    codec: str = "mpeg4",
    rate: int | None = None,
) -> Path:
    """A 64×48 video whose frame k (grey level 4·k) is shown from ``times[k]`` seconds, in
    millisecond timestamps; ``rate`` is the frame rate the codec declares (None: PyAV's)."""
    from fractions import Fraction

    path = _target(folder, name)
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w", format=format) as container:
        stream = container.add_stream(codec, rate=rate) if rate else container.add_stream(codec)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base
        for k, seconds in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), (4 * k) % 256, np.uint8), "rgb24")
            frame.pts, frame.time_base = round(seconds * 1000), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def vfr_times(frames: int = 80, seconds: float = 16.9, seed: int = 0) -> list[float]:
    """``frames`` start times from 0 to ``seconds`` at random gaps (20 to 400 ms before scaling)."""
    gaps = np.random.default_rng(seed).uniform(0.02, 0.4, frames - 1)
    return [0.0, *np.cumsum(gaps * seconds / gaps.sum()).round(3).tolist()]


def _noise_mkv(folder: Path, name: str, frames: int, codec: str) -> Path:
    """A ``frames``-frame noise MKV at 10 fps (Matroska headers give no frame count)."""
    path = _target(folder, name)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def cut_mkv(folder: Path, name: str = "cut.mkv", frames: int = 60) -> Path:
    """A ``frames``-frame (6 s) noise MKV cut at half its bytes: its header still gives 6 s,
    its first 24 frames (2.4 s) decode."""
    return _cut(_noise_mkv(folder, name, frames, "mpeg4"), 0.5)


def corrupt_mkv(folder: Path, name: str = "corrupt.mkv", frames: int = 60) -> Path:
    """A ``frames``-frame (6 s) H.264 noise MKV with 4000 bytes in its middle overwritten:
    decoding stops about half way (3.0 s), though the demuxer finds later packets."""
    path = _noise_mkv(folder, name, frames, "libx264")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = b"\xff" * 4000
    path.write_bytes(bytes(data))
    return path


def rotated_mp4(folder: Path, degrees: int = -90, name: str = "portrait.mp4", frames: int = 3) -> Path:
    """A 64×48 (landscape) MP4 whose display matrix turns it by ``degrees`` counter-clockwise
    (-90: a phone held upright); each frame is black with a white 8×8 top-left corner."""
    path = _target(folder, name)
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:8, :8] = 255
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.set_display_rotation(degrees)
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path
