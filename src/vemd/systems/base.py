"""The System interface: what every kind of model vemd trains declares, once.

A *system* is one kind of model — the paper's VE-MD, its multimodal extension (§7), the
EmotiW 2020 audio-video system, the ABAW 2024 valence/arousal system — registered by name
(:func:`register`). It says how it trains (``fit``), how it reads its model file (``load``),
what a loaded model can do (:class:`Capabilities`), how it predicts clips and how it is
evaluated. Consumers (``vemd predict``, :func:`vemd.load`, ``vemd test``, ``vemd export``,
``vemd audit``, ``vemd serve``) go through :class:`Artifact` and ask its capabilities; they
never test which kind of system they hold.

Everything here is light: a system's heavy parts (its model, its training loop) are imported
by its methods, so predicting with any system imports no training stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from vemd.eval.run import TestOptions

if TYPE_CHECKING:
    import torch

    from vemd.config import Config
    from vemd.model_file import ModelFile

SYSTEMS: dict[str, type[System]] = {}


@dataclass(frozen=True)
class Capabilities:
    """What a loaded model gives and supports; consumers decide by these, never by kind."""

    classes: bool = True  # class probabilities and a label
    valence: bool = False  # a valence value per clip
    arousal: bool = False  # an arousal value per clip
    audio_seconds: float | None = None  # seconds of a video's audio track each window hears; None: no audio
    smoothing_s: float | None = None  # the system's own timeline smoothing (Hamming window, seconds)
    # None: each window is predicted on its own; else why a window's prediction needs the whole
    # video (the predictor reads every window before predicting any, and refuses a live source)
    whole_video: str | None = None
    mode: str | None = None  # the VE-MD mode (ve-sd, ve-md, ve-md-sr) where the model is one
    export: str | None = None  # None: ``vemd export`` writes it; else the one-line reason it cannot
    audit: str | None = None  # None: ``vemd audit`` probes it; else the one-line reason it cannot

    @property
    def audio(self) -> bool:
        return self.audio_seconds is not None


@dataclass
class Clips:
    """One forward pass's outputs, per clip: (B, C) probabilities, (B,) valence, (B,) arousal."""

    probs: np.ndarray | None = None
    valence: np.ndarray | None = None
    arousal: np.ndarray | None = None


class FrameView:
    """How ``vemd predict`` turns decoded frames into a model's input; this one: each frame
    resized to the model's square side, as training resizes a frame.

    The predictor calls :meth:`frame` on each frame as it is decoded and holds what it returns
    until the windows using that frame are predicted; :meth:`window` turns a window's held values
    into its T frames, RGB uint8 (S, S, 3) each."""

    def __init__(self, size: int) -> None:
        from vemd.structure.transforms import ClipTransform

        self._resize = ClipTransform(None, False, (size, size))

    def resize(self, image: np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) → (S, S, 3)."""
        return self._resize(image, {})[0]

    def frame(self, image: np.ndarray):
        return self.resize(image)

    def window(self, held: list) -> list[np.ndarray]:
        return list(held)


Batch = tuple["torch.Tensor", "np.ndarray | None", "np.ndarray | None"]  # frames, waveforms, present


@dataclass
class Artifact:
    """A loaded model file: its system, model (eval mode), config, class names and capabilities."""

    system: type[System]
    model: torch.nn.Module
    cfg: Config
    class_names: list[str]
    path: Path
    capabilities: Capabilities
    caveat: str | None = None  # one line when it was trained on the built-in synthetic data

    def to(self, device) -> Artifact:
        self.model.to(device)
        return self

    @property
    def image_size(self) -> int:
        """Side of the square frames the model reads."""
        return int(self.system.image_size(self.model))

    def predict_clips(self, frames: torch.Tensor, waveforms=None, present=None) -> Clips:
        """Outputs of (B, T, 3, S, S) uint8 frames (and, with audio, (B, L) waveforms and (B,) presence)."""
        import torch

        with torch.no_grad():
            return self.system.predict_clips(self.model, frames, waveforms, present)

    def predict_video(self, batches: Iterable[Batch]) -> list[Clips]:
        """Outputs of every batch of one video's windows (:meth:`System.predict_video`)."""
        import torch

        with torch.no_grad():
            return self.system.predict_video(self.model, batches)

    def frame_view(self) -> FrameView:
        """How ``vemd predict`` makes this model's input of decoded frames."""
        return self.system.frame_view(self.model, self.cfg)

    def vision(self) -> torch.nn.Module:
        """The VE-MD inside (what ``vemd audit`` probes and ``vemd export`` writes)."""
        return self.system.vision(self.model)

    def evaluate(self, options: TestOptions) -> dict:
        return self.system.evaluate(self, options)


class System:
    """One kind of model vemd trains; subclasses are registered with :func:`register`."""

    kind: ClassVar[str]  # the registry name, written in its model files
    title: ClassVar[str]  # one line: what it is and where it is from

    @classmethod
    def trains(cls, cfg: Config) -> bool:
        """Whether ``vemd fit`` of ``cfg`` trains this system."""
        return cfg.system.kind == cls.kind

    @classmethod
    def fit(cls, cfg: Config, *, resume: bool = False) -> dict:
        """Train it as ``cfg`` says; writes ``model.pt`` and its card; returns the fit summary."""
        raise NotImplementedError

    @classmethod
    def load(cls, file: ModelFile) -> Artifact:
        """The model of a model file, in eval mode on the CPU; one-line CheckpointError otherwise."""
        raise NotImplementedError

    @staticmethod
    def predict_clips(model, frames, waveforms=None, present=None) -> Clips:
        """Outputs of (B, T, 3, S, S) uint8 frames; ``waveforms`` (B, L) float32 at 16 kHz and
        ``present`` (B,) bool where the system hears audio (else None)."""
        raise NotImplementedError

    @classmethod
    def predict_video(cls, model, batches: Iterable[Batch]) -> list[Clips]:
        """The outputs of one video's windows, one :class:`Clips` per batch of ``batches`` (each
        as :meth:`predict_clips` takes it), given once every batch has been read: for a system
        whose capabilities say ``whole_video``."""
        raise NotImplementedError

    @classmethod
    def frame_view(cls, model, cfg: Config) -> FrameView:
        """How ``vemd predict`` makes the model's input of decoded frames (default: resized)."""
        return FrameView(cls.image_size(model))

    @staticmethod
    def image_size(model) -> int:
        return model.image_size

    @classmethod
    def evaluate(cls, artifact: Artifact, options: TestOptions) -> dict:
        """``vemd test``: metrics of a split, reports in its folder; returns the printed summary."""
        raise NotImplementedError

    @staticmethod
    def vision(model):
        raise NotImplementedError  # only systems whose capabilities allow audit or export have one


def register(cls: type[System]) -> type[System]:
    """Class decorator: make ``cls`` known by its ``kind``."""
    if cls.kind in SYSTEMS:
        raise ValueError(f"system {cls.kind!r} is registered twice")
    SYSTEMS[cls.kind] = cls
    return cls
