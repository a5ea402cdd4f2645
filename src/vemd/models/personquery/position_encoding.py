"""Fixed sinusoidal 2-D positional encoding of a feature map's cells (DETR style)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def sine_position_encoding(
    height: int, width: int, dim: int, *, temperature: float = 10000.0, device: torch.device | None = None
) -> Tensor:
    """Encode every cell of a ``height`` × ``width`` grid.

    Row and column coordinates are normalised to [0, 2π] so that maps of different sizes
    share one positional frame; each gets ``dim / 2`` channels of interleaved sin/cos.

    Returns:
        (height·width, dim) float32, cells in row-major order (as ``Tensor.flatten``).
    """
    if dim % 4:
        raise ValueError(f"positional encoding dim must be a multiple of 4, got {dim}")
    half = dim // 2
    freq = temperature ** (2 * torch.div(torch.arange(half, device=device), 2, rounding_mode="floor") / half)
    y = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 * math.pi
    x = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 * math.pi
    y_enc = y[:, None] / freq  # (h, dim/2)
    x_enc = x[:, None] / freq  # (w, dim/2)
    y_enc = torch.stack([y_enc[:, 0::2].sin(), y_enc[:, 1::2].cos()], dim=2).flatten(1)
    x_enc = torch.stack([x_enc[:, 0::2].sin(), x_enc[:, 1::2].cos()], dim=2).flatten(1)
    grid = torch.cat(
        [y_enc[:, None, :].expand(height, width, half), x_enc[None, :, :].expand(height, width, half)], dim=2
    )  # (h, w, dim)
    return grid.reshape(height * width, dim)
