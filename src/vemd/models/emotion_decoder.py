"""Emotion decoder (paper §3.3): per-frame embedding, transformer over frames, Frame Attention Pooling, MLP.

Per frame t: ``Z_t = φ(flatten([Z1_t ; Z2_t]))`` with φ linear to C = 2·latent_dim, then
``x_t = [Z_t ; S_body_t ; S_face_t]``. Projected SR goes through linear p → ReLU to
C_s = factor·latent_dim (§5.2.1). The SR normalisation (``model.sr.norm``) is a named choice:
``layernorm`` puts a LayerNorm in front of raw and projected SR alike (vemd's: heatmap sums
range over [0, L]); ``projected`` only in front of p, as the authors' released code does, so
raw SR is concatenated as it is, as the paper describes; ``none`` never.
With ``sr_gate`` (``model.sr.gate``, vemd's own addition) each modality's SR is then scaled by
a learnable scalar that starts at 0 (ReZero-style): an untrained structural decoder's output is
input-dependent noise, and fed at full scale at tiny scale it drowned the latent embedding and
held training at chance; the gate opens as the SR becomes informative. Without it the SR is
concatenated as the paper describes. The embedding sizes of Table 7 are unchanged either way.
Frame positions are marked with a fixed sinusoidal encoding before the transformer.
With ``valence_head`` (``model.valence_head``) a second MLP regresses a valence from the same
pooled clip embedding, for MER2023's multi-task protocol (F1 − 0.25·MSE, paper §8).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vemd.config import SR_NORMS


class FrameAttentionPooling(nn.Module):
    """FAP = Σ_i a_i f_i with a = softmax(wᵀ f_i + b) over frames: (B, T, D) → (B, D)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        weights = self.score(frames).softmax(dim=1)  # (B, T, 1)
        return (weights * frames).sum(1)


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) fixed sine/cosine position encoding."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]
    return table


def sr_adapter(raw_dim: int, projected_dim: int | None, norm: str = "layernorm") -> nn.Module:
    """SR (…, raw_dim) → (…, projected_dim or raw_dim): [LayerNorm] for raw SR, [LayerNorm] → linear
    → ReLU for projected SR; the LayerNorm as ``norm`` says (see the module docstring)."""
    if norm not in SR_NORMS:
        raise ValueError(f"model.sr.norm must be one of {SR_NORMS}, got {norm!r}")
    normalised = norm == "layernorm" or (norm == "projected" and projected_dim is not None)
    layers: list[nn.Module] = [nn.LayerNorm(raw_dim)] if normalised else []
    if projected_dim is not None:
        layers += [nn.Linear(raw_dim, projected_dim), nn.ReLU(inplace=True)]
    if len(layers) == 1:
        return layers[0]  # keeps the parameter names of model files saved with a bare LayerNorm
    return nn.Sequential(*layers)


def mlp_head(dim: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    """LayerNorm → linear → ReLU → dropout → linear: (B, dim) → (B, out)."""
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, out),
    )


PHI_KINDS = ("flatten", "pool")


class EmotionDecoder(nn.Module):
    """Latent maps and SR per frame → group-level class logits.

    Args:
        latent_channels: channels of the latent map, 2·latent_dim (also C, the width of φ).
        latent_size: side of the latent grid.
        sr_dims: raw SR size per modality, in order (empty for VE-SD / VE-MD).
        sr_projection: C_s, projected SR width per modality, or None for raw SR.
        num_classes, num_layers, num_heads, feedforward_dim, dropout, mlp_hidden: head sizes.
        phi: "flatten" (φ is linear on the whole latent map) or "pool" (linear on its spatial mean).
        valence_head: also regress one valence per clip from the pooled embedding.
        sr_gate: scale each modality's SR by a learnable scalar initialised at 0.
        sr_norm: where SR is layer-normalised: ``layernorm``, ``projected`` or ``none``.
    """

    def __init__(
        self,
        *,
        latent_channels: int,
        latent_size: int,
        sr_dims: dict[str, int],
        sr_projection: int | None,
        num_classes: int,
        num_layers: int,
        num_heads: int,
        feedforward_dim: int,
        dropout: float,
        mlp_hidden: int,
        valence_head: bool = False,
        phi: str = "flatten",
        sr_gate: bool = True,
        sr_norm: str = "layernorm",
    ) -> None:
        super().__init__()
        if phi not in PHI_KINDS:
            raise ValueError(f"model.emotion.phi must be one of {PHI_KINDS}, got {phi!r}")
        self.phi_kind = phi
        self.phi = nn.Linear(latent_channels * (latent_size**2 if phi == "flatten" else 1), latent_channels)
        self.sr = nn.ModuleDict(
            {name: sr_adapter(dim, sr_projection, sr_norm) for name, dim in sr_dims.items()}
        )
        self.sr_gate = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(())) for name in sr_dims} if sr_gate else {}
        )
        self.sr_widths = {name: sr_projection or dim for name, dim in sr_dims.items()}  # fed per modality
        self.frame_dim = latent_channels + sum(self.sr_widths.values())
        if self.frame_dim % num_heads:
            raise ValueError(f"frame embedding {self.frame_dim} is not divisible by num_heads={num_heads}")
        layer = nn.TransformerEncoderLayer(
            self.frame_dim, num_heads, feedforward_dim, dropout, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.pool = FrameAttentionPooling(self.frame_dim)
        self.head = mlp_head(self.frame_dim, mlp_hidden, num_classes, dropout)
        self.valence_head = mlp_head(self.frame_dim, mlp_hidden, 1, dropout) if valence_head else None

    def frame_embeddings(self, latent: torch.Tensor, sr: dict[str, torch.Tensor]) -> torch.Tensor:
        """Latent (B, T, C, s, s) and SR {modality: (B, T, raw)} → x (B, T, frame_dim)."""
        grid = latent.flatten(2) if self.phi_kind == "flatten" else latent.mean(dim=(-2, -1))
        parts = [self.phi(grid)]  # (B, T, C)
        for name, adapter in self.sr.items():
            embedding = adapter(sr[name])  # (B, T, C_s or raw)
            parts.append(self.sr_gate[name] * embedding if name in self.sr_gate else embedding)
        return torch.cat(parts, dim=-1)

    def encode(
        self, latent: torch.Tensor, sr: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent (B, T, C, s, s), SR {modality: (B, T, raw)} → the transformer's frame tokens
        (B, T, frame_dim) and their FAP-pooled clip embedding (B, frame_dim): what the heads read,
        and what a multimodal fusion (paper §7.1.2) takes from a frozen VE-MD."""
        x = self.frame_embeddings(latent, sr or {})
        x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
        tokens = self.transformer(x)
        return tokens, self.pool(tokens)

    def decode(
        self, latent: torch.Tensor, sr: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Latent (B, T, C, s, s), SR {modality: (B, T, raw)} → logits (B, num_classes) and
        valence (B,), None without a valence head."""
        logits, valence, _, _ = self.decode_all(latent, sr)
        return logits, valence

    def decode_all(
        self, latent: torch.Tensor, sr: dict[str, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """:meth:`decode`'s logits and valence, then :meth:`encode`'s frame tokens and clip embedding."""
        tokens, clip = self.encode(latent, sr)
        valence = self.valence_head(clip).squeeze(-1) if self.valence_head is not None else None
        return self.head(clip), valence, tokens, clip

    def forward(self, latent: torch.Tensor, sr: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Latent (B, T, C, s, s), SR {modality: (B, T, raw)} → logits (B, num_classes)."""
        return self.decode(latent, sr)[0]
