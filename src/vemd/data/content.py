"""What a source is and holds, told by the file system and by its bytes rather than its name.

One check for every entry point (``vemd predict``, the Python API, ``vemd serve``, ``vemd data
check``, ``vemd annotate``, training), made by :func:`vemd.data.media.probe` and the readers:

- :func:`source_type`: a path is read only when it is a folder or a regular file. A named pipe,
  a character device (``/dev/stdin`` on a terminal) or a socket is refused before it is opened:
  vemd reads a video's header before its frames, which a pipe fed once cannot give twice, and
  opening a pipe without a writer blocks. A symlink loop is named as one, not as a missing file.
- :func:`media_kind`: an image is a file whose header Pillow identifies as one of the formats
  vemd reads (JPEG, PNG, BMP, WebP, TIFF); a video is a file that starts as one of the
  containers of vemd's video suffixes (MP4/QuickTime, Matroska/WebM, AVI, MPEG program or
  transport stream, ASF, FLV). Anything else (a text file, a GIF, a PDF, whatever its name) is
  :class:`NotMedia`, before FFmpeg sees it: FFmpeg would render a text file as video (its
  ``tty`` demuxer) and open a text file named ``.jpg`` as an image sequence.
- :func:`check_container`: once a video is open, the demuxer FFmpeg chose must be one of those
  containers too.

A file of a known kind whose contents are broken (a truncated JPEG, an MP4 cut before its
index) passes here and is refused by the reader that decodes it.

File names are shown by :func:`shown`: as given, or quoted (``repr``) when they hold a line
break or another unprintable character, so that every message stays one line.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vemd.errors import DataError

IMAGE_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}
READ_FORMATS = ["JPEG", "PNG", "BMP", "WEBP", "TIFF"]  # Pillow's openers (JPEG's also gives MPO)
# FFmpeg's names of those containers (a demuxer's name lists several: "mov,mp4,m4a,3gp,3g2,mj2")
DEMUXERS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "mpeg", "mpegts", "mpegvideo", "asf", "flv"})
KINDS = "an image (JPEG, PNG, BMP, WebP, TIFF) or a video (MP4, MOV, MKV, WebM, AVI, MPEG, WMV, FLV)"

_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")  # MP4 / QuickTime first boxes
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class NotMedia(DataError):
    """A file that is neither an image nor a video vemd reads, by its contents."""


def shown(path: str | os.PathLike) -> str:
    """``path`` as messages name it: as given, or ``repr``-quoted when it holds a line break or
    another unprintable character."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)


def source_type(path: str | os.PathLike) -> str:
    """``folder`` or ``file`` (a regular file, through any symlinks); DataError naming ``path``
    when it is missing, a symlink loop, unreadable, or a pipe, device or socket."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise DataError(f"{shown(path)}: {_stat_reason(err)}") from err
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    raise DataError(
        f"{shown(path)}: {what}, not a file: vemd reads a source more than once, so give it a "
        "regular file (save a pipe's or stdin's data to a file first)"
    )


def _stat_reason(err: OSError) -> str:
    if err.errno == errno.ENOENT:
        return "no such file or folder"
    if err.errno == errno.ELOOP:
        return "symlink loop (a link that points back to itself)"
    if err.errno == errno.ENOTDIR:
        return "no such file or folder (a part of the path is a file)"
    return f"cannot be read ({err.strerror})"


def media_kind(path: Path) -> str:
    """``image`` or ``video`` by the bytes of a regular file; DataError for an empty file,
    :class:`NotMedia` for one that is neither."""
    try:
        with path.open("rb") as file:
            head = file.read(512)
            if not head:
                raise DataError(f"{shown(path)}: empty file")
            if image_format(file) is not None:
                return "image"
    except OSError as err:
        raise DataError(f"{shown(path)}: cannot be read ({err.strerror})") from err
    if video_container(head):
        return "video"
    raise NotMedia(f"{shown(path)}: not {KINDS} by its contents")


def image_format(file) -> str | None:
    """The format Pillow finds in the header of an open binary ``file`` (read from its start),
    if vemd reads that format; None otherwise."""
    file.seek(0)
    try:
        with Image.open(file, formats=READ_FORMATS) as image:
            return image.format
    except Image.DecompressionBombError:
        return "PNG"  # an image: vemd's reader refuses its size on one line
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def video_container(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts one of the containers vemd's video suffixes name."""
    return (
        head[4:8] in _ISO_BOXES
        or head.startswith(b"\x1a\x45\xdf\xa3")  # EBML: Matroska, WebM
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"))  # MPEG program stream, MPEG video
        or (len(head) > 188 and head[0] == head[188] == 0x47)  # MPEG transport stream sync bytes
        or head.startswith((_ASF, b"FLV"))
    )


def check_container(path: Path, container) -> None:
    """:class:`NotMedia` unless the demuxer FFmpeg opened ``container`` with is one of vemd's
    video containers."""
    names = set(container.format.name.split(","))
    if not names & DEMUXERS:
        raise NotMedia(
            f"{shown(path)}: not {KINDS} by its contents (FFmpeg reads it as {container.format.long_name})"
        )
