"""What an upload holds, told by its bytes rather than its name: the check every entry point
makes (:mod:`vemd.data.content`), answered in HTTP terms.

A file that is neither an image nor a video vemd reads by its contents (a text file named
``.jpg``, a GIF, a PDF) is 415; an empty file 422. A file of a known kind whose contents are
broken (a truncated JPEG, an MP4 cut before its index) passes here and is refused by vemd's
reader (422).
"""

from __future__ import annotations

from pathlib import Path

from vemd.data.content import IMAGE_FORMATS, KINDS, NotMedia, image_format, media_kind
from vemd.data.media import IMAGE_SUFFIXES
from vemd.errors import DataError
from vemd.serve.errors import RequestError

UNSUPPORTED = f"not {KINDS} by its contents"


def identify(path: Path) -> Path:
    """``path`` (renamed if its suffix says otherwise) so that vemd reads it as what its bytes
    are: an image suffix for an image, none of those for a video. RequestError: 422 for an
    empty file, 415 for one that is neither."""
    try:
        kind = media_kind(path)
    except NotMedia:
        raise RequestError(415, UNSUPPORTED) from None
    except DataError:
        raise RequestError(422, "empty file") from None
    if (path.suffix in IMAGE_SUFFIXES) == (kind == "image"):
        return path
    return path.rename(path.with_suffix(_image_suffix(path) or ""))


def _image_suffix(path: Path) -> str | None:
    """The suffix of the image format Pillow finds in the header, if vemd reads that format."""
    with path.open("rb") as file:
        return IMAGE_FORMATS.get(image_format(file) or "")
