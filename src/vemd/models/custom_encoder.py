"""The paper's "Custom" multitask encoder: stacked residual down-sampling blocks (§4.2.1)."""

from __future__ import annotations

import torch
from torch import nn


class ResidualDownBlock(nn.Module):
    """Halves the resolution: conv s2 → BN → ELU → conv s1 → BN, plus a strided conv skip, then ELU.

    (N, C_in, H, W) → (N, C_out, ⌈H/2⌉, ⌈W/2⌉)
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ELU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.skip = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.act = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.main(x) + self.skip(x))


class CustomEncoder(nn.Module):
    """One residual down block per entry of ``channels``: (N, 3, H, W) → (N, channels[-1], H/2^k, W/2^k)."""

    def __init__(self, channels: list[int] | tuple[int, ...], in_channels: int = 3) -> None:
        super().__init__()
        widths = [in_channels, *channels]
        self.blocks = nn.Sequential(*(ResidualDownBlock(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.num_features = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class PlainEncoder(nn.Module):
    """A VGG-style stack for small inputs: conv 3×3 → BN → ReLU per entry, 2×2 max-pool between entries.

    Max-pooling keeps small, sparse cues (a raised arm of a distant person) that a strided
    convolution tends to average away; it learns the quickstart's drawn scenes from scratch in
    a few CPU minutes. (N, 3, H, W) → (N, channels[-1], H/2^(k-1), W/2^(k-1)) for k entries.
    """

    def __init__(self, channels: list[int] | tuple[int, ...], in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip([in_channels, *channels[:-1]], channels)):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        self.blocks = nn.Sequential(*layers)
        self.num_features = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)
