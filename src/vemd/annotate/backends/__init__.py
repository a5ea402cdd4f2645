"""Annotation backends by name: ``offline``, ``vitpose`` and ``auto`` (vitpose when its weights
are cached locally, else offline), plus any registered with :func:`register_backend` (tests
register a stub this way and select it with ``vemd annotate --backend NAME``)."""

from __future__ import annotations

from collections.abc import Callable

from vemd.annotate.backends.base import Backend
from vemd.errors import VemdError

BUILT_IN = ("auto", "offline", "vitpose")
BackendFactory = Callable[[], Backend]

# Backends added at run time. A factory must pickle (a class or a module-level function), since
# `--workers N` builds one backend in each spawned process.
_REGISTERED: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``factory`` available as ``--backend name`` (a built-in name cannot be replaced)."""
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in annotation backend")
    _REGISTERED[name] = factory


def unregister_backend(name: str) -> None:
    _REGISTERED.pop(name, None)


def backend_names() -> tuple[str, ...]:
    return (*BUILT_IN, *_REGISTERED)


def resolve_backend(name: str) -> str:
    """The concrete backend ``name`` stands for (``auto`` → ``vitpose`` or ``offline``)."""
    if name not in backend_names():
        raise VemdError(f"unknown annotation backend {name!r} (expected one of {', '.join(backend_names())})")
    if name != "auto":
        return name
    from vemd.annotate.backends.vitpose import vitpose_available

    return "vitpose" if vitpose_available() else "offline"


def backend_factory(name: str) -> BackendFactory:
    """What builds backend ``name`` (``auto`` resolved first), picklable for worker processes."""
    name = resolve_backend(name)
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name == "vitpose":
        from vemd.annotate.backends.vitpose import VitPoseBackend

        return VitPoseBackend
    from vemd.annotate.backends.offline import OfflineBackend

    return OfflineBackend


def build_backend(name: str) -> Backend:
    """A ready backend (``auto`` resolved first); VemdError naming what is missing."""
    return backend_factory(name)()
