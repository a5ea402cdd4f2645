"""Broken and unusual media files, written on demand into a given folder.

Each function writes one file (nothing binary lives in the repository) and returns its
path; ``name`` overrides the file name. Good-but-unusual images (CMYK, 16-bit, alpha,
grayscale, huge) must read as RGB uint8 (H, W, 3); broken ones must be refused with one
line naming the file. Videos are tiny MPEG-4 clips whose frame k has grey level 4·k.

Images: :func:`zero_byte_jpg`, :func:`truncated_jpeg`, :func:`truncated_jpeg_with_thumbnail`, :func:`truncated_png`,
:func:`text_named_jpg`, :func:`cmyk_jpeg`, :func:`png16`, :func:`rgba_png`,
:func:`gray_jpeg`, :func:`huge_image`. Videos: :func:`video` (any frame count, 0 and 1
included), :func:`cut_mp4` (an MP4 cut in half, index first or last).
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
