"""Z1, the ViT branch: patch tokens as a map, reduced by a trainable conv to the latent grid (paper §3.1, §4.3).

Stage 1 trains the ViT with a linear cross-entropy head (:meth:`ViTBranch.logits`); stage 2
freezes both. Frozen means ``requires_grad=False`` *and* eval mode, kept through ``.train()``.
The frozen part ends at :meth:`ViTBranch.tokens`, so its output can be cached on disk and fed
back through :meth:`ViTBranch.forward`'s ``tokens`` argument.
"""

from __future__ import annotations

import torch
from torch import nn

from vemd.models.cnn_branch import fit_grid


class ViTBranch(nn.Module):
    """timm ViT → token map (N, D, gh, gw) → conv to (N, latent_dim, latent_size, latent_size).

    Args:
        vit: a timm VisionTransformer (``forward_features``, ``num_prefix_tokens``, ``patch_embed``).
        latent_dim: C_e, channels of this branch's half of the latent.
        latent_size: side of the latent grid; the token grid is area-pooled to it when larger.
        num_classes: classes of the stage-1 linear head.
        frozen: freeze the ViT and its stage-1 head.
    """

    def __init__(self, vit: nn.Module, *, latent_dim: int, latent_size: int, num_classes: int, frozen: bool):
        super().__init__()
        self.vit = vit
        self.head = nn.Linear(vit.num_features, num_classes)
        self.proj = nn.Conv2d(vit.num_features, latent_dim, 1)
        self.latent_size = latent_size
        self.set_frozen(frozen)

    @property
    def num_features(self) -> int:
        return self.vit.num_features

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.vit.patch_embed.grid_size)

    def set_frozen(self, frozen: bool) -> None:
        """Freeze (stage 2) or unfreeze (stage 1) the ViT and its linear head."""
        self.frozen = frozen
        for module in (self.vit, self.head):
            module.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> ViTBranch:
        super().train(mode)
        if self.frozen:
            self.vit.eval()
            self.head.eval()
        return self

    def _grad(self) -> torch.set_grad_enabled:
        """No autograd graph through a frozen ViT."""
        return torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen)

    def tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) → patch-token map (N, D, gh, gw), the cacheable frozen features."""
        with self._grad():
            x = self.vit.forward_features(frames)[:, self.vit.num_prefix_tokens :]  # (N, gh·gw, D)
        gh, gw = self.grid_size
        return x.transpose(1, 2).reshape(x.shape[0], -1, gh, gw)

    def logits(self, frames: torch.Tensor) -> torch.Tensor:
        """Stage-1 classifier: (B, T, 3, H, W) → (B, num_classes) from frame-averaged pooled features."""
        b, t = frames.shape[:2]
        with self._grad():
            x = self.vit.forward_features(frames.flatten(0, 1))  # (B·T, tokens, D)
            pooled = self.vit.forward_head(x, pre_logits=True).view(b, t, -1).mean(1)  # (B, D)
            return self.head(pooled)

    def forward(self, frames: torch.Tensor | None = None, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) frames, or their cached (N, D, gh, gw) tokens → (N, latent_dim, s, s)."""
        if tokens is None:
            tokens = self.tokens(frames)
        return fit_grid(self.proj(tokens), self.latent_size)
