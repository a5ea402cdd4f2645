"""Receiving an upload: a multipart body streamed into a private temporary file.

The body is read chunk by chunk as it arrives and parsed by python-multipart's streaming
parser; it is never held whole in memory nor spooled elsewhere (Starlette's own form parser
spools files to the system temporary folder, whole, before a handler runs). The part named
``file`` goes into a file of mode 0600 inside a fresh folder of mode 0700
(:func:`private_folder`), which is removed when the request ends, whatever happens. Reading
stops as soon as the part passes the size limit: no more than the limit is ever written.
A server killed outright (kill -9, power loss) cannot remove its folders: they are named
after its process id, and a server starting on the same folder removes those of processes
that are gone (:func:`remove_stale_uploads`).

The client's file name is kept for the answer only, reduced to a printable basename
(:func:`safe_name`); the temporary file takes its suffix when it is a known media suffix.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from vemd.data.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from vemd.serve.errors import RequestError

FILE_FIELD = "file"
TEXT_FIELDS = ("window", "stride")  # small text fields read beside the file
MAX_FIELD_BYTES = 64  # a number of seconds
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and text fields beyond the file's bytes
FLUSH_BYTES = 1 << 20  # written to disk (in a worker thread) once this much has arrived
MAX_NAME = 200  # characters of the client's file name kept for the answer

MISSING_FILE = f"no {FILE_FIELD!r} field: send the image or video as multipart/form-data field {FILE_FIELD!r}"
FOLDER_PREFIX = "vemd-upload-"
_OWNER = re.compile(rf"{FOLDER_PREFIX}(\d+)-")  # the process id in a folder's name


@dataclass
class Upload:
    """The uploaded file, stored, and the text fields sent with it."""

    name: str  # the client's file name, a printable basename (never a server path)
    path: Path  # where its bytes are, inside the request's private folder
    size: int  # bytes
    fields: dict[str, str] = field(default_factory=dict)


@contextmanager
def private_folder(parent: str | Path | None) -> Iterator[Path]:
    """A fresh folder of mode 0700 under ``parent`` (None: the system's temporary folder),
    named ``vemd-upload-<pid>-<random>``, removed with everything in it when the block ends,
    by an error or not."""
    folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_uploads(parent: str | Path | None) -> list[Path]:
    """Remove the upload folders under ``parent`` (None: the system's temporary folder) that a
    server process killed outright left: this user's, named after a process that no longer
    runs. Folders of running servers and of other users are left alone. Returns those removed."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        owner = _OWNER.match(folder.name)
        try:
            mine = folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid()
        except OSError:  # gone meanwhile
            continue
        if owner and mine and not _running(int(owner.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists (this one included; another user's counts too)."""
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process exists is checked
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def safe_name(raw: str | None) -> str:
    """The basename of a client's file name (either path separator), printable characters only."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip()[-MAX_NAME:]
    return base if base not in ("", ".", "..") else "upload"


def media_suffix(name: str) -> str:
    """The lowercase suffix of ``name`` if vemd knows it as an image or video suffix, else ``""``."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES | VIDEO_SUFFIXES else ""


async def receive_upload(request: Request, folder: Path, *, limit: int) -> Upload:
    """Stream the multipart body of ``request`` into ``folder``; the stored :class:`Upload`.

    RequestError: 413 once the file passes ``limit`` bytes (or the body's declared length is
    beyond it), 422 for a body that is not multipart, is malformed or has no ``file`` field.
    """
    boundary = _boundary(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise too_large(limit)
    form = _Form(folder, limit)
    parser = MultipartParser(boundary, form.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + FORM_OVERHEAD:
                raise too_large(limit)
            parser.write(chunk)
            form.check()
            if len(form.pending) >= FLUSH_BYTES:
                await asyncio.to_thread(form.flush)
        parser.finalize()
        form.check()
        form.flush()
    except MultipartParseError as err:
        raise RequestError(422, f"malformed multipart body ({err})") from err
    except ClientDisconnect as err:
        raise RequestError(400, "the client closed the connection during the upload") from err
    finally:
        form.close()
    if form.path is None:
        raise RequestError(422, MISSING_FILE)
    if not form.ended:
        raise RequestError(422, "incomplete multipart body (no closing boundary)")
    return Upload(form.name, form.path, form.size, form.fields)


def too_large(limit: int) -> RequestError:
    return RequestError(413, f"upload larger than the server's limit of {limit / 1e6:g} MB")


def _boundary(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise RequestError(422, MISSING_FILE)
    return options[b"boundary"]


class _Form:
    """python-multipart callbacks: the ``file`` part into a private file, text fields kept, the
    other parts dropped as they arrive."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder, self.limit = folder, limit
        self.name = "upload"
        self.path: Path | None = None
        self.size = 0
        self.fields: dict[str, str] = {}
        self.pending = bytearray()  # file bytes not yet written
        self.ended = False
        self._file = None
        self._error: RequestError | None = None
        self._headers: dict[bytes, bytes] = {}
        self._header = self._value = b""
        self._target: str | None = None  # "file", a text field's name, or None (dropped)
        self._text = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def check(self) -> None:
        """Raise what a callback found wrong (python-multipart callbacks do not raise through)."""
        if self._error is not None:
            raise self._error

    def flush(self) -> None:
        if self.pending:
            self._file.write(self.pending)
            self.pending.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _part_begin(self) -> None:
        self._headers, self._target = {}, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header.lower()] = self._value
        self._header = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == FILE_FIELD:
            if self.path is not None:
                self._error = RequestError(
                    422, f"more than one {FILE_FIELD!r} field: send one file per request"
                )
                return
            self.name = safe_name(options.get(b"filename", b"").decode("utf-8", "replace"))
            handle, path = tempfile.mkstemp(prefix="upload-", suffix=media_suffix(self.name), dir=self.folder)
            self._file, self.path = open(handle, "wb"), Path(path)  # noqa: SIM115 - closed by close()
            self._target = FILE_FIELD
        elif name in TEXT_FIELDS:
            self._target, self._text = name, bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target == FILE_FIELD:
            self.size += end - start
            if self.size > self.limit:
                self._error, self._target = too_large(self.limit), None  # nothing more is stored
            else:
                self.pending += data[start:end]
        elif self._target is not None:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                self._error = RequestError(422, f"field {self._target!r}: too long for a number of seconds")
                self._target = None

    def _part_end(self) -> None:
        if self._target in TEXT_FIELDS:
            self.fields[self._target] = self._text.decode("utf-8", "replace").strip()
        self._target = None

    def _end(self) -> None:
        self.ended = True
