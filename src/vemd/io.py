"""Files vemd writes and reads: atomic writes, and weights-only loading of tensor files.

Every file vemd writes goes through :func:`atomic_write` (readers see the old or the new
content, never a part); every tensor file it reads goes through :func:`load_weights_only`
(tensors and plain containers: nothing in a file is ever executed). A folder that several
runs may write at once is held with :func:`locked_folder`, which leaves no lock file behind.
Caches are keyed by :func:`weights_digest`, the identity of a module's weights.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vemd.errors import VemdError


def atomic_write(path: str | Path, write, *, sync: bool = True, replace: bool = True) -> None:
    """Call ``write(binary_file)`` on a temporary file, then rename it onto ``path`` (same folder,
    same filesystem), so readers see the old or the new content, never a part.

    The temporary file is created with ``os.open(..., 0o666)`` and O_EXCL, so the kernel applies
    the user's umask as it does to any new file (``tempfile.mkstemp`` would make it 0600), and
    nothing reads or changes the process-wide umask, which would race with other threads.
    ``sync=False`` skips the fsync, for files that may be lost on a crash (a cache).
    ``replace=False``: a file already at ``path`` is never replaced (FileExistsError; the new
    file is published by a hard link, which the kernel refuses onto an existing name).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            tmp.unlink()
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.filename is None:  # a full disk while writing: say which file could not be written
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class FolderBusy(VemdError):
    """Another process holds the lock of a folder (:func:`locked_folder` with ``wait=False``)."""


@contextmanager
def locked_folder(
    folder: str | Path, *, wait: bool = True, busy: str = "in use by another process"
) -> Iterator[None]:
    """Hold an exclusive lock on the existing ``folder`` for the block.

    The lock is a ``flock`` on the folder itself: no lock file is ever written (nothing is left
    behind), and the kernel releases it when the holder ends, however it ends (kill -9
    included). Every holder opens the folder anew, so two holders in one process exclude each
    other too. ``wait=False``: :class:`FolderBusy` (``<folder>: <busy>``) at once when another
    holder has it.
    """
    import fcntl

    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise FolderBusy(f"{folder}: {busy}") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never a part."""
    atomic_write(path, lambda h: h.write(text.encode("utf-8")))


class DamagedFile(VemdError):
    """A file whose bytes are not those written: a zip member's CRC-32 does not match."""


def verify_zip(path: str | Path) -> None:
    """Check the CRC-32 of every member of the zip file ``path`` (a torch file is one), which
    ``torch.load`` never does: bytes changed on disk or in transfer are a :class:`DamagedFile`
    naming the file and the member. Reading the file once costs about a third of loading it.
    A file that is not a zip is left to its reader."""
    import zipfile
    import zlib

    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        raise DamagedFile(f"{path}: damaged file ({type(err).__name__}: {err})") from None
    if bad is not None:
        raise DamagedFile(
            f"{path}: damaged file: the bytes of its member {bad} differ from their CRC-32 "
            "(changed on disk or in transfer)"
        )


def load_weights_only(path: str | Path, *, mmap: bool = False):
    """``torch.load`` that unpickles tensors and plain containers only (never runs code), after
    :func:`verify_zip` checked every byte against the file's CRC-32s.

    torch's own warnings about the file (a plain pickle's protocol, ...) are silenced: a file
    it refuses is reported by the caller, on one line naming it.
    """
    import torch

    verify_zip(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def weights_digest(module) -> str:
    """SHA-256 of a torch module's parameters and buffers (names, shapes and values): the identity
    of its weights that cache files are keyed by (a frozen encoder's features or tokens)."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_tensors(path: str | Path, tensors: dict, *, key: str) -> None:
    """Write a cache entry: named tensors and the ``key`` they were computed for, as safetensors
    (tensors only: reading it never unpickles anything), atomically and without fsync (an entry
    lost in a crash is recomputed). Every feature cache of vemd stores its entries this way."""
    from safetensors.torch import save

    data = save({name: t.contiguous() for name, t in tensors.items()}, metadata={"key": key})
    atomic_write(path, lambda handle: handle.write(data), sync=False)


def read_tensors(path: str | Path, *, key: str) -> dict | None:
    """The tensors of a :func:`write_tensors` entry; None when it is absent, damaged, foreign or
    was written for another ``key`` (the caller recomputes it)."""
    from safetensors import safe_open

    if not Path(path).is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as entry:
            if (entry.metadata() or {}).get("key") != key:
                return None
            return {name: entry.get_tensor(name) for name in entry.keys()}  # noqa: SIM118  (not a dict)
    except Exception:  # safetensors raises several types for damaged or foreign files
        return None
