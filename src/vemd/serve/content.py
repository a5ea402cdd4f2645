"""What an upload holds, told by its bytes rather than its name.

An image is what Pillow identifies from the header as one of the formats vemd reads (JPEG,
PNG, BMP, WebP, TIFF); a video is a file that starts as one of the containers of vemd's
video suffixes (MP4/QuickTime, Matroska/WebM, AVI, MPEG program or transport stream, ASF,
FLV). Anything else (a text file named ``.jpg``, a GIF, a PDF) is 415. A file of a known kind
whose contents are broken (a truncated JPEG, an MP4 cut before its index) passes here and is
refused by vemd's reader (422). FFmpeg cannot tell the two apart: it opens a text file named
``.jpg`` as an image sequence, and fails on a cut MP4 exactly as on random bytes.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

from vemd.data.media import IMAGE_SUFFIXES
from vemd.serve.errors import RequestError

IMAGE_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif"}
READ_FORMATS = ["JPEG", "PNG", "BMP", "WEBP", "TIFF"]  # Pillow's openers (JPEG's also gives MPO)
UNSUPPORTED = "not an image (JPEG, PNG, BMP, WebP, TIFF) or a video (MP4, MOV, MKV, WebM, AVI, MPEG, WMV, FLV) by its contents"

_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")  # MP4 / QuickTime first boxes


def identify(path: Path) -> Path:
    """``path`` (renamed if its suffix says otherwise) so that vemd reads it as what its bytes
    are: an image suffix for an image, none of those for a video. RequestError: 422 for an
    empty file, 415 for one that is neither."""
    with path.open("rb") as file:
        head = file.read(512)
    if not head:
        raise RequestError(422, "empty file")
    suffix = _image_suffix(path)
    if suffix is None and not _video_container(head):
        raise RequestError(415, UNSUPPORTED)
    is_image = suffix is not None
    if (path.suffix in IMAGE_SUFFIXES) == is_image:
        return path
    return path.rename(path.with_suffix(suffix or ""))


def _image_suffix(path: Path) -> str | None:
    """The suffix of the image format Pillow finds in the header, if vemd reads that format."""
    try:
        with Image.open(path, formats=READ_FORMATS) as image:
            return IMAGE_FORMATS.get(image.format)
    except Image.DecompressionBombError:
        return ".png"  # an image: vemd's reader refuses its size on one line
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def _video_container(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts one of the containers vemd's video suffixes name."""
    return (
        head[4:8] in _ISO_BOXES
        or head.startswith(b"\x1a\x45\xdf\xa3")  # EBML: Matroska, WebM
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"))  # MPEG program stream, MPEG video
        or (len(head) > 188 and head[0] == head[188] == 0x47)  # MPEG transport stream sync bytes
        or head.startswith((_ASF, b"FLV"))
    )
