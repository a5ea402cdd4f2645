"""The typed output of :class:`vemd.models.vemd.VEMD`."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class VEMDOutput:
    """Everything one forward pass computed; fields not computed stay None.

    Only ``logits``, ``probs`` and ``valence`` are group-level and public; the rest is training
    signal (structural predictions, latent statistics) and never leaves the model at inference.

    Attributes:
        logits: (B, num_classes).
        probs: (B, num_classes), softmax of ``logits``.
        valence: (B,) regressed clip valence (``model.valence_head``), else None.
        pred_body, pred_face: structural decoder outputs on the B·T frames (decoder-specific dicts).
        latent: (B·T, 2·latent_dim, s, s) latent the decoders saw (a sample while training ve/vae).
        latent_mean, latent_logvar: (B·T, 2·latent_dim, s, s) Gaussian parameters (ve, vae).
        recon: (B·T, 3, H, W) reconstructed frames (vae).
        frame_tokens: (B, T, D) the emotion decoder's frame tokens (stage 2), internal: never a
            public output; a multimodal fusion reads them from a frozen VE-MD.
        clip_embedding: (B, D) their FAP-pooled clip embedding, which the classifier reads.
        latent_logits: (B, num_classes) the latent probe's logits (``model.latent_probe``), a
            training signal only.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    valence: torch.Tensor | None = None
    pred_body: dict | None = None
    pred_face: dict | None = None
    latent: torch.Tensor | None = None
    latent_mean: torch.Tensor | None = None
    latent_logvar: torch.Tensor | None = None
    recon: torch.Tensor | None = None
    frame_tokens: torch.Tensor | None = None
    clip_embedding: torch.Tensor | None = None
    latent_logits: torch.Tensor | None = None

    def structure(self, modality: str) -> dict | None:
        """The structural prediction of ``body`` or ``face``."""
        return getattr(self, f"pred_{modality}")
