"""Attention-Guided Feature fusion, AFG (paper §7.1.2).

Audio f^a and video f^v clip features are projected to a shared D (h^a, h^v); a small MLP on
``[h^a ; h^v]`` with a softmax gives the weights α^a + α^v = 1 of each sample, and the fused
feature ``h = α^a·h^a + α^v·h^v`` is classified by an MLP (§7.1.3). For a clip without audio the
audio input is zeroed (whatever it held reaches neither logits nor gradients) and the audio
weight's score is −∞, so α^v = 1 exactly and h = h^v.
"""

from __future__ import annotations

import torch
from torch import nn

from vemd.models.emotion_decoder import mlp_head


class AFG(nn.Module):
    """Audio (B, Da) and video (B, Dv) features → per-sample weighted sum in D → MLP → logits.

    Args:
        audio_dim, video_dim: widths of the audio and video clip features.
        num_classes: number of emotion classes.
        dim: D, the shared width.
        gate_hidden: hidden width of the MLP that scores the two modalities.
        mlp_hidden: hidden width of the classifier MLP.
        dropout: in the classifier MLP.
    """

    def __init__(
        self,
        *,
        audio_dim: int,
        video_dim: int,
        num_classes: int,
        dim: int = 1024,
        gate_hidden: int,
        mlp_hidden: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.audio_proj = nn.Linear(audio_dim, dim)
        self.video_proj = nn.Linear(video_dim, dim)
        self.gate = nn.Sequential(
            nn.Linear(2 * dim, gate_hidden), nn.ReLU(inplace=True), nn.Linear(gate_hidden, 2)
        )
        self.head = mlp_head(dim, mlp_hidden, num_classes, dropout)

    def fuse(
        self, audio: torch.Tensor, video: torch.Tensor, audio_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio (B, Da), video (B, Dv), audio_mask (B,) bool (True: has audio) → h (B, D) and
        the weights (B, 2), columns (α^a, α^v)."""
        if audio_mask is not None:
            if audio_mask.shape != (audio.shape[0],) or audio_mask.dtype != torch.bool:
                raise ValueError(
                    f"audio_mask must be ({audio.shape[0]},) bool, got {audio_mask.dtype} {tuple(audio_mask.shape)}"
                )
            audio = torch.where(audio_mask[:, None], audio, 0)  # a missing input, even NaN, stays out
        h_a, h_v = self.audio_proj(audio), self.video_proj(video)  # (B, D) each
        scores = self.gate(torch.cat([h_a, h_v], dim=-1))  # (B, 2)
        if audio_mask is not None:
            scores = torch.cat(
                [scores[:, :1].masked_fill(~audio_mask[:, None], float("-inf")), scores[:, 1:]], -1
            )
        alpha = scores.softmax(dim=-1)
        return alpha[:, :1] * h_a + alpha[:, 1:] * h_v, alpha

    def forward(
        self, audio: torch.Tensor, video: torch.Tensor, audio_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio (B, Da), video (B, Dv), audio_mask (B,) → logits (B, num_classes) and weights (B, 2)."""
        h, alpha = self.fuse(audio, video, audio_mask)
        return self.head(h), alpha
