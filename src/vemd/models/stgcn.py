"""Spatio-temporal graph convolution (ST-GCN) over the joints of predicted structures (§3.2.1).

A graph convolution mixes each node with its neighbours through the symmetrically
normalised adjacency ``D^-1/2 (A + I) D^-1/2``, a temporal convolution then mixes each
node with itself in neighbouring frames, and a residual keeps the input's information.
:class:`SkeletonSTGCN` applies one such block to the joints recovered from a PersonQuery
decoder's limb endpoints and hands the refinement back to the endpoints.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from vemd.structure.skeleton import Skeleton


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


class SkeletonSTGCN(nn.Module):
    """ST-GCN over the joint graph of a skeleton, fed with and returning limb endpoints.

    The paper treats each joint as a graph node with the skeleton's connections as edges
    (§3.2.1), but the PersonQuery limb head predicts limbs, 2 endpoints × (x, y) each, and a
    joint ends several limbs. So:

    1. joints: each joint's (x, y) is the mean of the endpoint predictions of the limbs it
       ends (:meth:`joints`); the nodes are the joints that end a limb (all 17 COCO joints;
       30 of the 68 iBUG landmarks for the 20 dynamic face connections), the edges the
       skeleton's joint graph among them (``Skeleton.joint_adjacency``);
    2. an :class:`STGCNBlock` over (joints × frames) of each query slot, then a 1×1 conv back
       to (x, y): a correction per joint and frame;
    3. each endpoint moves by the correction of its joint, so the output keeps the limb
       layout and the SR size 4·Q·L of the emotion decoder's input (Table 9), and limbs that
       share a joint move together.

    Args:
        skeleton: the limb set of the decoder and its joint graph.
        channels: width of the ST-GCN block.
        temporal_kernel: odd kernel size of the temporal convolution.
    """

    def __init__(self, skeleton: Skeleton, channels: int, temporal_kernel: int = 3) -> None:
        super().__init__()
        joints = skeleton.limb_joints
        node = np.searchsorted(joints, skeleton.limb_array.reshape(-1))  # (2L,) endpoint → node
        incidence = torch.zeros(2 * skeleton.num_limbs, len(joints))
        incidence[torch.arange(len(node)), torch.from_numpy(node)] = 1.0
        self.register_buffer("incidence", incidence)  # (2L, J): endpoint e belongs to node j
        self.register_buffer("endpoint_mean", incidence / incidence.sum(0))  # columns average
        graph = torch.from_numpy(skeleton.joint_adjacency[np.ix_(joints, joints)])  # (J, J)
        self.block = STGCNBlock(2, channels, graph, temporal_kernel)
        self.out = nn.Conv2d(channels, 2, 1)

    @property
    def num_nodes(self) -> int:
        return self.incidence.shape[1]

    def joints(self, limbs: Tensor) -> Tensor:
        """(..., 4L) endpoints ``x1, y1, x2, y2`` per limb → (..., J, 2) mean (x, y) per joint."""
        endpoints = limbs.unflatten(-1, (-1, 2))  # (..., 2L, 2)
        return torch.einsum("...ec,ej->...jc", endpoints, self.endpoint_mean)

    def forward(self, limbs: Tensor, num_frames: int) -> Tensor:
        """(N, Q, 4L) endpoints of N = B·T frames in (B, T) order → refined (N, Q, 4L)."""
        num_items, num_queries, _ = limbs.shape
        if num_items % num_frames:
            raise ValueError(f"{num_items} frames cannot be split into clips of num_frames={num_frames}")
        batch, nodes = num_items // num_frames, self.num_nodes
        x = self.joints(limbs).view(batch, num_frames, num_queries, nodes, 2)
        x = x.permute(0, 2, 4, 1, 3).reshape(batch * num_queries, 2, num_frames, nodes)  # (B·Q, 2, T, J)
        delta = self.out(self.block(x)).view(batch, num_queries, 2, num_frames, nodes)
        delta = delta.permute(0, 3, 1, 4, 2).reshape(num_items, num_queries, nodes, 2)  # (N, Q, J, 2)
        return limbs + torch.einsum("nqjc,ej->nqec", delta, self.incidence).flatten(-2)
