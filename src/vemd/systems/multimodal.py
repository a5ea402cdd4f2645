"""Multimodal VE-MD (paper §7): a frozen VE-MD, audio and text branches, their fusion.

Its parts live in :mod:`vemd.models.multimodal` (branches, fusion), its training in
:mod:`vemd.train.multimodal`, its evaluation (each modality alone and fused, Table 12) in
:mod:`vemd.eval.multimodal`. A window's audio is its span, at most its first
``multimodal.audio.max_seconds`` (``seconds``, else the encoder's window), as a training clip's
is the span its frames cover; the fusion has no valence head, so the system gives class
probabilities only.
"""

from __future__ import annotations

import numpy as np

from vemd.model_file import MULTIMODAL
from vemd.systems.base import Artifact, Capabilities, Clips, System, TestOptions, register


@register
class MultimodalSystem(System):
    kind = MULTIMODAL
    title = "Multimodal VE-MD: frozen VE-MD, audio / text branches and their fusion (paper §7)"

    @classmethod
    def trains(cls, cfg) -> bool:
        return cfg.system.kind == "ve-md" and cfg.multimodal.enabled

    @classmethod
    def fit(cls, cfg, *, resume: bool = False) -> dict:
        from vemd.train.fit import fit_vemd_multimodal

        return fit_vemd_multimodal(cfg, resume=resume)

    @classmethod
    def load(cls, file) -> Artifact:
        from vemd.models.checkpoint import multimodal_from_file

        model, cfg, class_names = multimodal_from_file(file)
        hears = model.audio is not None and "audio" in model.modalities  # the fusion reads audio
        capabilities = Capabilities(
            audio_seconds=cfg.multimodal.audio.max_seconds if hears else None,
            mode=model.video.mode,
            export=(
                f"{file.path}: a multimodal model (video + audio fusion); vemd export writes the video "
                "model only: export the VE-MD it was trained over (its fit.json names video_model)"
            ),
        )
        return Artifact(cls, model, cfg, class_names, file.path, capabilities)

    @staticmethod
    def predict_clips(model, frames, waveforms=None, present=None) -> Clips:
        import torch

        inputs = {}
        if waveforms is not None:
            device = frames.device
            inputs = {
                "waveforms": torch.from_numpy(np.asarray(waveforms)).to(device),  # (B, L)
                "audio_present": torch.from_numpy(np.asarray(present, dtype=bool)).to(device),  # (B,)
            }
        logits = model.fuse(model.branch_features(frames, **inputs))
        return Clips(probs=logits.float().softmax(-1).cpu().numpy())

    @classmethod
    def evaluate(cls, artifact: Artifact, options: TestOptions) -> dict:
        from vemd.eval.multimodal import evaluate_multimodal

        return evaluate_multimodal(artifact, options)

    @staticmethod
    def vision(model):
        return model.video

    @staticmethod
    def image_size(model) -> int:
        return model.video.image_size
