"""Reconstruction decoder of the ``vae`` variant (paper §4.2.1, Table 3): latent map back to the frame."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class VAEDecoder(nn.Module):
    """Latent (N, C, s, s) → frame (N, 3, image_size, image_size) in the normalised input space.

    ⌈log2(image_size / s)⌉ ×2 transposed-conv stages halve the width from C (at least
    ``min_channels``); the result is resized to ``image_size`` when the ratio is not a power of two.
    """

    def __init__(
        self, latent_channels: int, latent_size: int, image_size: int, min_channels: int = 16
    ) -> None:
        super().__init__()
        num_up = max(1, math.ceil(math.log2(image_size / latent_size)))
        widths = [max(latent_channels // 2**i, min_channels) for i in range(num_up + 1)]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 2, stride=2), nn.BatchNorm2d(b), nn.ELU(inplace=True)]
        layers.append(nn.Conv2d(widths[-1], 3, 3, padding=1))
        self.layers = nn.Sequential(*layers)
        self.image_size = image_size

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.layers(latent)
        if x.shape[-1] != self.image_size:
            x = F.interpolate(
                x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False
            )
        return x
