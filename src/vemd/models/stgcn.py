"""Spatio-temporal graph convolution (ST-GCN) block.

A graph convolution mixes each node with its neighbours through the symmetrically
normalised adjacency ``D^-1/2 (A + I) D^-1/2``, a temporal convolution then mixes each
node with itself in neighbouring frames, and a residual keeps the input's information.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def normalized_adjacency(adjacency: Tensor) -> Tensor:
    """``D^-1/2 (A + I) D^-1/2`` of a (V, V) 0/1 adjacency, D the degree of A + I."""
    a_hat = adjacency.float() + torch.eye(adjacency.shape[0], device=adjacency.device)
    inv_sqrt_degree = a_hat.sum(dim=1).rsqrt()
    return inv_sqrt_degree[:, None] * a_hat * inv_sqrt_degree[None, :]


class STGCNBlock(nn.Module):
    """Graph conv over V nodes, then temporal conv over T frames, with a residual.

    Args:
        adjacency: (V, V) symmetric 0/1 node connectivity (no self loops needed).
        temporal_kernel: odd kernel size of the temporal convolution (padded to keep T).
    """

    def __init__(
        self, in_channels: int, out_channels: int, adjacency: Tensor, temporal_kernel: int = 3
    ) -> None:
        super().__init__()
        if temporal_kernel % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd, got {temporal_kernel}")
        self.register_buffer("adjacency", normalized_adjacency(torch.as_tensor(adjacency)))
        self.spatial = nn.Conv2d(in_channels, out_channels, 1)
        self.spatial_norm = nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
        self.temporal = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), padding=(temporal_kernel // 2, 0)),
            nn.BatchNorm2d(out_channels),
        )
        self.residual = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, T, V) → (N, C_out, T, V)."""
        y = torch.einsum("nctv,vw->nctw", self.spatial(x), self.adjacency)
        y = self.temporal(self.spatial_norm(y))
        return self.act(y + self.residual(x))
