"""Z2, the trainable multitask branch: a CNN's last feature map reduced to the latent grid (paper §3.1, §4.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TimmFeatureMap(nn.Module):
    """A timm classifier used as a backbone: (N, 3, H, W) → its last map (N, num_features, h, w)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.num_features: int = model.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


class CNNBranch(nn.Module):
    """Backbone map → 1×1 conv to ``latent_dim`` → resized to ``latent_size``².

    Args:
        backbone: module mapping (N, 3, H, W) to (N, backbone.num_features, h, w).
        latent_dim: C_e, channels of this branch's half of the latent.
        latent_size: side of the latent grid (7 in the paper).
    """

    def __init__(self, backbone: nn.Module, *, latent_dim: int, latent_size: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.proj = nn.Conv2d(backbone.num_features, latent_dim, 1)
        self.latent_size = latent_size

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) → (N, latent_dim, latent_size, latent_size)."""
        return fit_grid(self.proj(self.backbone(frames)), self.latent_size)


def fit_grid(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, h, w) → (N, C, size, size): area pooling down, bilinear up, identity when equal."""
    if x.shape[-2:] == (size, size):
        return x
    if x.shape[-2] >= size and x.shape[-1] >= size:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
