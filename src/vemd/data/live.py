"""Reading frames from live sources: network streams and cameras, decoded with PyAV.

A *live source* is a stream URL (``rtsp://``, ``http://``, ``udp://``, ... : see
:data:`STREAM_SCHEMES`) or a camera, opened through FFmpeg's capture device of the platform
(:func:`camera_source`: ``v4l2`` on Linux, ``avfoundation`` on macOS). Unlike a video file it
has no frame count and no end known in advance: :func:`iter_live_frames` decodes its first
video stream in one sequential pass and hands out each frame as an RGB uint8 (H, W, 3) array
as soon as it is decoded, optionally shrunk at once by a ``transform``, so memory stays flat
however long the source runs. Nothing is written to disk.

Errors: a source that cannot be opened (refused, unknown host, no such camera, no answer
within ``open_timeout``, bytes that are not a media stream) or holds no video stream raises
a one-line :class:`~vemd.errors.DataError` naming it, with FFmpeg's reason. Once frames have
come, a source that drops, stalls for ``read_timeout`` seconds or breaks ends the iteration
instead (the usual end of a live source): one line ``<source>: stream ended early: <reason>``
goes to ``notify`` and the frames still inside the decoder are handed out first. A stream
that ends cleanly ends the iteration silently. URLs are named with any password hidden.

Frames are read as a video file's are (:func:`vemd.data.media.frame_rgb`): turned as their
display matrix says, and refused (one DataError line) when larger than
:data:`vemd.data.media.MAX_IMAGE_PIXELS` pixels.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np

from vemd.data.media import ffmpeg_reason, frame_rgb
from vemd.errors import DataError, VemdError

log = logging.getLogger(__name__)

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt", "rtp"})
CAMERA_FORMATS = frozenset({"v4l2", "avfoundation"})
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def is_stream_url(text: str) -> bool:
    """Whether ``text`` is a URL of a :data:`STREAM_SCHEMES` scheme (``scheme://...``), not a path."""
    return _scheme(text) in STREAM_SCHEMES


def _scheme(text: str) -> str | None:
    match = _URL.match(text)
    return match.group(1).lower() if match else None


def camera_source(index: int) -> tuple[str, str | None, dict]:
    """PyAV's ``file``, ``format`` and ``options`` that open camera ``index`` on this platform.

    Linux: ``/dev/video{index}`` through ``v4l2``. macOS: device ``index`` through
    ``avfoundation`` at 30 fps (FFmpeg's default, 29.97 fps, is one many cameras refuse).
    Windows' DirectShow opens a camera by its name, not by a number: there, a VemdError
    says to pass ``video=<name>`` with format ``dshow`` to :func:`iter_live_frames` instead.
    """
    if index < 0:
        raise VemdError(f"camera index must be 0 or more, not {index}")
    if sys.platform.startswith("linux"):
        return f"/dev/video{index}", "v4l2", {}
    if sys.platform == "darwin":
        return str(index), "avfoundation", {"framerate": "30"}
    raise VemdError(
        f"camera {index}: cameras are opened by number on Linux and macOS only; on {sys.platform} "
        "open the camera by its device name (DirectShow: source 'video=<name>', format 'dshow')"
    )


def describe_source(source: str, format: str | None = None) -> str:
    """How messages name a live source: ``camera 0 (/dev/video0)`` for a camera, else the URL
    with its password (if any) replaced by ``***``."""
    if format in CAMERA_FORMATS:
        number = re.fullmatch(r"(?:/dev/video)?(\d+)", source)
        if number:
            return f"camera {number.group(1)} ({source})"
    if is_stream_url(source):
        try:
            parts = urlsplit(source)
        except ValueError:  # a malformed address: FFmpeg's error will say so
            return source
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()
    return source


@dataclass(frozen=True)
class LiveFrame:
    """One decoded frame of a live source.

    time: seconds since the source's first frame, from the frame's timestamp (pts × time_base),
        or from a wall clock where the source gives no timestamp.
    image: RGB uint8 (H, W, 3), after the ``transform`` of :func:`iter_live_frames` if any.
    """

    time: float
    image: np.ndarray


def iter_live_frames(
    source: str,
    *,
    format: str | None = None,
    options: dict | None = None,
    open_timeout: float = 10.0,
    read_timeout: float = 10.0,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    notify: Callable[[str], None] | None = None,
) -> Iterator[LiveFrame]:
    """The frames of the first video stream of ``source``, as they are decoded, until it ends.

    ``format`` and ``options`` go to ``av.open`` (an ``rtsp``/``rtsps`` source gets
    ``rtsp_transport=tcp`` unless ``options`` chooses; :func:`camera_source` gives both for a
    camera). ``open_timeout`` bounds opening (connecting and probing the stream), ``read_timeout``
    each wait for data after that. ``transform`` maps each RGB (H, W, 3) frame before it is
    handed out (a resize: only the small frame is kept). DataError (one line) when the source
    cannot be opened, holds no video stream or fails before its first frame; after frames, an
    early end is reported to ``notify`` (default: a logged warning) and the iteration ends.
    The source is opened, and these errors raised, at the first ``next``.

    Closing the generator (``close()``, or dropping it, as a ``for`` loop left by an exception
    such as KeyboardInterrupt does) closes the source at once. A KeyboardInterrupt that comes while FFmpeg waits for data takes effect when data
    comes or ``read_timeout`` passes (FFmpeg's wait is not interrupted by signals).
    """
    import av

    name = describe_source(source, format)
    notify = notify or log.warning
    options = dict(options or {})
    if _scheme(source) in ("rtsp", "rtsps"):
        # RTP over UDP loses packets (smeared frames) and firewalls often block it
        options.setdefault("rtsp_transport", "tcp")
    try:
        container = av.open(source, format=format, options=options, timeout=(open_timeout, read_timeout))
    except Exception as err:  # PyAV raises many FFmpeg error types (and ValueError for an unknown format)
        raise DataError(f"{name}: cannot open live source ({_why(err, open_timeout)})") from err
    with container:
        if not container.streams.video:
            raise DataError(f"{name}: live source has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first_pts = first_wall = None
        with closing(_decode(container, stream)) as decoded:
            for frame, error in decoded:
                if error is not None:
                    if first_wall is None:
                        raise DataError(
                            f"{name}: cannot read live source ({_why(error, read_timeout)})"
                        ) from error
                    notify(f"{name}: stream ended early: {_why(error, read_timeout)}")
                    return
                pts, wall = _pts_seconds(frame, stream), time.monotonic()
                if first_wall is None:
                    first_pts, first_wall = pts, wall
                seconds = pts - first_pts if pts is not None and first_pts is not None else wall - first_wall
                image = frame_rgb(name, frame)  # as displayed; DataError over the pixel limit
                yield LiveFrame(seconds, transform(image) if transform else image)
        if first_wall is None:
            raise DataError(f"{name}: live source ended before its first frame")


def _decode(container, stream) -> Iterator[tuple[object, Exception | None]]:
    """``(frame, None)`` for each decoded frame, in order; on a read or decoding error, the frames
    the decoder still holds and then ``(None, error)``."""
    try:
        for packet in container.demux(stream):  # the last, empty packet flushes the decoder
            for frame in stream.decode(packet):
                yield frame, None
    except Exception as err:  # PyAV raises many FFmpeg error types
        try:
            for frame in stream.decode(None):
                yield frame, None
        except Exception:  # a decoder that cannot even flush holds nothing more to give
            pass
        yield None, err


def _pts_seconds(frame, stream) -> float | None:
    """A frame's timestamp in seconds; None where it has none. The frames flushed out of the
    decoder carry no time base of their own: theirs is the stream's."""
    time_base = frame.time_base or stream.time_base
    if frame.pts is None or time_base is None:
        return None
    return float(frame.pts * time_base)


def _why(err: Exception, timeout: float) -> str:
    """FFmpeg's reason for ``err``; a timeout (PyAV interrupts FFmpeg: "Immediate exit requested")
    in plain words."""
    import av

    if isinstance(err, av.error.ExitError):
        return f"timed out: no data for {timeout:g} s"
    return ffmpeg_reason(err)
