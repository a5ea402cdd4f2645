"""Audio→video cross-attention fusion of the authors' EmotiW 2023 system.

Audio tokens are the queries and video tokens the keys and values (both projected to a common
D); the audio tokens, the attended video and the video tokens are each averaged over their
tokens, concatenated to ``[audio ; cross ; video]`` (3·D) and a linear layer gives the logits.
The released code uses D = 1024, one attention head, attention dropout 0.1.

A clip without audio keeps only its video part: its audio and cross thirds are zeros, so its
logits are exactly those of the video-only path (``audio=None``).
"""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the tokens (B, N, D) where mask (B, N) is True → (B, D); zeros where none is."""
    kept = torch.where(mask[..., None], tokens, 0)  # where, not a product: a NaN left out stays out
    return kept.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(tokens.dtype)


def token_mask(mask: torch.Tensor | None, tokens: torch.Tensor, name: str) -> torch.Tensor:
    """A per-clip (B,) or per-token (B, N) bool mask, or None (all valid) → (B, N)."""
    b, n = tokens.shape[:2]
    if mask is not None and mask.dtype != torch.bool:
        raise ValueError(f"{name} must be bool, got {mask.dtype}")
    if mask is None:
        return torch.ones(b, n, dtype=torch.bool, device=tokens.device)
    if mask.shape == (b,):
        return mask[:, None].expand(b, n)
    if mask.shape != (b, n):
        raise ValueError(f"{name} must be ({b},) or ({b}, {n}), got shape {tuple(mask.shape)}")
    return mask


class AudioVideoCrossAttention(nn.Module):
    """Audio tokens attend to video tokens; ``[audio ; cross ; video]`` pooled → linear → logits.

    Args:
        audio_dim, video_dim: widths of the audio and video tokens.
        num_classes: number of emotion classes.
        dim: D, the common width.
        num_heads, dropout: the cross-attention.
    """

    def __init__(
        self,
        *,
        audio_dim: int,
        video_dim: int,
        num_classes: int,
        dim: int = 1024,
        num_heads: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.audio_proj = nn.Linear(audio_dim, dim)
        self.video_proj = nn.Linear(video_dim, dim)
        self.cross = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.head = nn.Linear(3 * dim, num_classes)

    def features(
        self,
        video: torch.Tensor,
        audio: torch.Tensor | None = None,
        *,
        video_mask: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Video (B, T, Dv), audio (B, S, Da) or None → ``[audio ; cross ; video]`` (B, 3·D).

        ``video_mask`` (B, T) and ``audio_mask`` (B,) or (B, S) are True for valid tokens; every
        clip needs one valid video token; a clip with no valid audio token gets zero audio and
        cross thirds.
        """
        v_mask = token_mask(video_mask, video, "video_mask")
        # masked inputs are zeroed before anything sees them, not only left out of the means:
        # a NaN in a padded key would reach every query (0·NaN), any NaN the weight gradients
        v = self.video_proj(torch.where(v_mask[..., None], video, 0))  # (B, T, D)
        if not v_mask.any(1).all():
            raise ValueError("every clip needs at least one valid video token (video_mask)")
        pooled_video = masked_mean(v, v_mask)  # (B, D)
        if audio is None:
            zeros = torch.zeros_like(pooled_video)
            return torch.cat([zeros, zeros, pooled_video], dim=-1)
        a_mask = token_mask(audio_mask, audio, "audio_mask")
        a = self.audio_proj(torch.where(a_mask[..., None], audio, 0))  # (B, S, D)
        cross, _ = self.cross(a, v, v, key_padding_mask=~v_mask, need_weights=False)  # (B, S, D)
        return torch.cat([masked_mean(a, a_mask), masked_mean(cross, a_mask), pooled_video], dim=-1)

    def forward(
        self,
        video: torch.Tensor,
        audio: torch.Tensor | None = None,
        *,
        video_mask: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Video (B, T, Dv), audio (B, S, Da) or None, masks as in :meth:`features` → logits (B, num_classes)."""
        return self.head(self.features(video, audio, video_mask=video_mask, audio_mask=audio_mask))
