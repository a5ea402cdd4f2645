"""What a user gives to predict, as the ordered list of things to predict.

One expansion, shared by ``vemd predict INPUT...`` and :meth:`GroupEmotionPredictor.predict
<vemd.inference.predictor.GroupEmotionPredictor.predict>`, so that an input means the same
thing in both. Each source becomes zero or more :class:`Input` items, one thing to predict each:

* a stream URL (``rtsp://``, ``http://``, ...: :func:`vemd.data.live.is_stream_url`): one
  live source, read to its end;
* an existing file: one media file, whatever its suffix (its bytes tell an image from a video);
  a named pipe, a device or a socket (``<(cat clip.mp4)``, ``/dev/stdin``) is an error naming
  it, before it is opened (:func:`vemd.data.content.source_type`), and so is a symlink loop;
* a *frame folder*: one clip, its frames in sorted name order. A frame folder holds images
  named by their frame number only (``00001.jpg``, ``07.png``: the name before the suffix is
  all digits), and no video and no subfolder (hidden names and other files do not count), as
  datasets store clips as frames (SynthGroups, AffWild2's ``cropped_aligned``, DFEW);
* any other folder: each image and video in it and each frame folder in it (one clip each),
  searched recursively, sorted by path; hidden files and folders are skipped. A folder
  holding none is an error naming it;
* a path holding ``*``, ``?`` or ``[`` that does not exist: a glob pattern (``**`` spans
  folders); each match, sorted, is expanded like a path given alone, except that files that
  are not images or videos, and folders holding none, are skipped. A pattern that matches
  nothing, or nothing to predict, is an error naming it;
* any other path: an error naming it (no such file or folder);
* an RGB array, (H, W, 3) or (T, H, W, 3), or a PIL image: frames in memory, one clip;
* a list or tuple of paths (``str`` or ``os.PathLike``, URLs included): each expanded as
  above, in order; a list of arrays or PIL images: the frames of one clip (an empty list
  too: the predictor says no frame was given); a list mixing both is refused.

:attr:`Expansion.several` tells whether the source names a collection (a list or tuple of
paths, a glob, a folder that is not a frame folder), however many items it holds: the API
returns a list of results for those and one result otherwise.

Errors are one-line :class:`~vemd.errors.DataError` messages naming the input; with
``on_error`` each is handed to it and the expansion goes on with the other sources (the CLI
reports them and predicts the rest). A source of a type that cannot be predicted is a
``ValueError``.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from vemd.data.content import shown, source_type
from vemd.data.media import is_image, is_video
from vemd.errors import DataError, VemdError

__all__ = ["Expansion", "Input", "expand_inputs", "is_frame_folder"]

_GLOB = re.compile(r"[*?[]")
_FRAME_NUMBER = re.compile(r"[0-9]+")

OnError = Callable[[VemdError], None]


@dataclass(frozen=True, eq=False)
class Input:
    """One thing to predict.

    ``kind``: ``file`` (an image or a video, ``source`` its Path), ``clip`` (a frame folder,
    ``source`` its Path), ``url`` (a live source, ``source`` the URL) or ``frames`` (frames in
    memory, ``source`` the array, PIL image or list as given).
    """

    kind: str
    source: Any

    @property
    def name(self) -> str:
        """How results name it: the path or URL as given; ``<array>``/``<frames>`` in memory."""
        if self.kind != "frames":
            return str(self.source)
        import numpy as np

        return "<array>" if isinstance(self.source, np.ndarray) else "<frames>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Input):
            return NotImplemented
        if self.kind == "frames" or other.kind == "frames":
            return self is other
        return (self.kind, self.source) == (other.kind, other.source)

    def __hash__(self) -> int:
        return hash((self.kind, id(self.source) if self.kind == "frames" else self.source))

    def __repr__(self) -> str:
        return f"Input({self.kind!r}, {self.name!r})"


class Expansion(NamedTuple):
    """The items of a source, in order, and whether the source names a collection."""

    items: list[Input]
    several: bool


def expand_inputs(sources: Any, *, on_error: OnError | None = None) -> Expansion:
    """The items to predict of ``sources`` (module docstring for the rules).

    Without ``on_error`` the first path that gives nothing to predict raises its
    :class:`~vemd.errors.DataError`; with it, the error goes to ``on_error`` and the other
    sources are still expanded.
    """
    if isinstance(sources, str | os.PathLike):
        return Expansion(_reported(sources, on_error), _names_several(sources))
    if _is_frames(sources):
        return Expansion([Input("frames", sources)], False)
    if isinstance(sources, Sequence) and not isinstance(sources, str | bytes):
        paths = [isinstance(item, str | os.PathLike) for item in sources]
        if not sources or not any(paths):
            return Expansion([Input("frames", sources)], False)  # frames of one clip
        if not all(paths):
            raise ValueError("a list mixing paths and frames: give either paths (each predicted) or frames")
        return Expansion([item for source in sources for item in _reported(source, on_error)], True)
    raise ValueError(
        f"cannot predict a {type(sources).__name__}: give a path, an RGB array or a list of frames"
    )


def is_frame_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder of frames of one clip: images named by frame number only
    (``00001.jpg``), no video, no subfolder; hidden names and other files do not count."""
    try:
        entries = [p for p in Path(path).iterdir() if not p.name.startswith(".")]
    except OSError:  # not a folder, or unreadable
        return False
    images = 0
    for entry in entries:
        if entry.is_dir() or is_video(entry):
            return False
        if is_image(entry):
            if not _FRAME_NUMBER.fullmatch(entry.stem):
                return False
            images += 1
    return images > 0


def _names_several(source: str | os.PathLike) -> bool:
    """Whether a path-like source names a collection: a glob, a folder not of frames."""
    if isinstance(source, str) and _is_stream_url(source):
        return False
    path = _path_of(source)
    if path.is_dir():
        return not is_frame_folder(path)
    return not path.exists() and _is_glob(source)


def _reported(source: str | os.PathLike, on_error: OnError | None) -> list[Input]:
    try:
        return list(_expand(source))
    except DataError as err:
        if on_error is None:
            raise
        on_error(err)
        return []


def _expand(source: str | os.PathLike) -> Iterator[Input]:
    """The items of one path-like source; DataError naming it when there are none."""
    if isinstance(source, str) and _is_stream_url(source):
        yield Input("url", source)
        return
    path = _path_of(source)
    if path.is_dir():
        if is_frame_folder(path):
            yield Input("clip", path)
            return
        found = _folder_items(path)
        if not found:
            raise DataError(f"{shown(path)}: folder holds no image or video")
        yield from found
    elif os.path.lexists(path):  # a symlink loop or a dangling link too: named as what it is
        source_type(path)  # DataError: a pipe, a device, a symlink loop or a dangling link
        yield Input("file", path)
    elif _is_glob(source):
        matches = sorted(glob.glob(os.fspath(source), recursive=True))
        if not matches:
            raise DataError(f"{shown(source)}: no file or folder matches this pattern")
        found = [item for match in matches for item in _match_items(Path(match))]
        if not found:
            raise DataError(
                f"{shown(source)}: the files and folders matching this pattern hold no image or video"
            )
        yield from found
    else:
        raise DataError(f"{shown(path)}: no such file or folder")


def _match_items(path: Path) -> list[Input]:
    """A glob match's items: those of a folder, a media file itself, else none."""
    if path.is_dir():
        return [Input("clip", path)] if is_frame_folder(path) else _folder_items(path)
    if path.is_file() and (is_image(path) or is_video(path)):
        return [Input("file", path)]
    return []


def _folder_items(folder: Path) -> list[Input]:
    """The images and videos inside ``folder`` and its frame folders (one clip each),
    recursively, sorted by path; hidden files and folders skipped."""
    found = []
    for top, folders, files in os.walk(folder):
        here = Path(top)
        walk_into = []
        for name in sorted(folders):
            if name.startswith("."):
                continue
            if is_frame_folder(here / name):
                found.append(Input("clip", here / name))
            else:
                walk_into.append(name)
        folders[:] = walk_into
        for name in files:
            file = here / name
            if not name.startswith(".") and (is_image(file) or is_video(file)):
                found.append(Input("file", file))
    return sorted(found, key=lambda item: item.source)


def _path_of(source: str | os.PathLike) -> Path:
    return Path(os.fspath(source))


def _is_glob(source: str | os.PathLike) -> bool:
    return bool(_GLOB.search(os.fspath(source)))


def _is_stream_url(text: str) -> bool:
    from vemd.data.live import is_stream_url

    return is_stream_url(text)


def _is_frames(source: Any) -> bool:
    """Whether ``source`` is one array or PIL image (frames in memory)."""
    import numpy as np
    from PIL import Image

    return isinstance(source, np.ndarray | Image.Image)
