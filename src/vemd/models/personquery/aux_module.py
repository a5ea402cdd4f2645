"""Auxiliary residual convolution module: the latent map → three multi-scale maps F1, F2, F3.

Built from the residual block of the paper's custom encoder (§4.2.1): main path conv →
BN → ELU → conv → BN, skip path a strided 1×1 projection, sum → ELU. From a 7×7 latent
it gives F1 at 7×7, F2 at 14×14 (nearest upsampling, finer detail for small persons)
and F3 at 4×4 (stride 2, scene context).
"""

from __future__ import annotations

from torch import Tensor, nn


class ResidualBlock(nn.Module):
    """Residual conv block; ``stride`` 2 halves the resolution (rounding up)."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ELU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        )
        self.act = nn.ELU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) → (N, C_out, ⌈H/stride⌉, ⌈W/stride⌉)."""
        return self.act(self.main(x) + self.skip(x))


class AuxiliaryModule(nn.Module):
    """Latent (N, C, h, w) → F1 (N, D, h, w), F2 (N, D, 2h, 2w), F3 (N, D, ⌈h/2⌉, ⌈w/2⌉)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.same = ResidualBlock(in_channels, out_channels)
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), ResidualBlock(out_channels, out_channels)
        )
        self.down = ResidualBlock(out_channels, out_channels, stride=2)

    def forward(self, latent: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f1 = self.same(latent)
        return f1, self.up(f1), self.down(f1)
