"""Files vemd writes and reads: atomic writes, and weights-only loading of tensor files.

Every file vemd writes goes through :func:`atomic_write` (readers see the old or the new
content, never a part); every tensor file it reads goes through :func:`load_weights_only`
(tensors and plain containers: nothing in a file is ever executed).
Caches are keyed by :func:`weights_digest`, the identity of a module's weights.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import warnings
from pathlib import Path


def atomic_write(path: str | Path, write, *, sync: bool = True) -> None:
    """Call ``write(binary_file)`` on a temporary file, then rename it onto ``path`` (same folder,
    same filesystem), so readers see the old or the new content, never a part.

    The temporary file is created with ``os.open(..., 0o666)`` and O_EXCL, so the kernel applies
    the user's umask as it does to any new file (``tempfile.mkstemp`` would make it 0600), and
    nothing reads or changes the process-wide umask, which would race with other threads.
    ``sync=False`` skips the fsync, for files that may be lost on a crash (a cache).
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
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file so that readers see the old or the new content, never a part."""
    atomic_write(path, lambda h: h.write(text.encode("utf-8")))


def load_weights_only(path: str | Path, *, mmap: bool = False):
    """``torch.load`` that unpickles tensors and plain containers only (never runs code).

    torch's own warnings about the file (a plain pickle's protocol, ...) are silenced: a file
    it refuses is reported by the caller, on one line naming it.
    """
    import torch

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
