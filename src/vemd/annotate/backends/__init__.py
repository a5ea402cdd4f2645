"""Annotation backends by name: ``offline``, ``vitpose`` and ``auto`` (vitpose when its weights
are cached locally, else offline)."""

from __future__ import annotations

from vemd.annotate.backends.base import Backend
from vemd.errors import VemdError

BACKENDS = ("auto", "offline", "vitpose")


def resolve_backend(name: str) -> str:
    """The concrete backend ``name`` stands for (``auto`` → ``vitpose`` or ``offline``)."""
    if name not in BACKENDS:
        raise VemdError(f"unknown annotation backend {name!r} (expected one of {', '.join(BACKENDS)})")
    if name != "auto":
        return name
    from vemd.annotate.backends.vitpose import vitpose_available

    return "vitpose" if vitpose_available() else "offline"


def build_backend(name: str) -> Backend:
    """A ready backend (``auto`` resolved first); VemdError naming what is missing."""
    name = resolve_backend(name)
    if name == "vitpose":
        from vemd.annotate.backends.vitpose import VitPoseBackend

        return VitPoseBackend()
    from vemd.annotate.backends.offline import OfflineBackend

    return OfflineBackend()
