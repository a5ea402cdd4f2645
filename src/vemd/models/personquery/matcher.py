"""Hungarian matching of person queries to annotated persons.

The L1 limb cost of every (query, person) pair of every frame comes from one batched
``torch.cdist`` over all frames and limbs; ``scipy.optimize.linear_sum_assignment`` then
solves each frame's (Q, P) block on the CPU. With more persons than queries the
rectangular assignment keeps the Q persons that match best; the rest stay unmatched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor


@dataclass
class PaddedTargets:
    """Per-frame person targets stacked and zero-padded to P = the most persons in a frame.

    Attributes:
        limbs: (N, P, L, 4) endpoints (x1, y1, x2, y2) in [0, 1].
        limb_mask: (N, P, L) 1 where a limb is visible.
        adjacency: (N, P, L, L) limb connectivity.
        counts: (N,) number of real persons per frame.
    """

    limbs: Tensor
    limb_mask: Tensor
    adjacency: Tensor
    counts: np.ndarray


def pad_targets(targets: list[dict[str, Tensor]], num_limbs: int, device: torch.device) -> PaddedTargets:
    """Stack ``person_query_targets`` dicts (``limbs`` (P, 4L), ``limb_mask`` (P, L), ``adjacency`` (P, L, L))."""
    counts = np.array([len(t["limbs"]) for t in targets], dtype=np.int64)
    num_frames, most = len(targets), int(counts.max(initial=0))
    limbs = torch.zeros(num_frames, most, num_limbs, 4, device=device)
    mask = torch.zeros(num_frames, most, num_limbs, device=device)
    adjacency = torch.zeros(num_frames, most, num_limbs, num_limbs, device=device)
    for i, (target, count) in enumerate(zip(targets, counts)):  # assignment casts dtype and device
        limbs[i, :count] = torch.as_tensor(target["limbs"]).view(count, num_limbs, 4)
        mask[i, :count] = torch.as_tensor(target["limb_mask"])
        adjacency[i, :count] = torch.as_tensor(target["adjacency"])
    return PaddedTargets(limbs, mask, adjacency, counts)


def limb_cost(pred_limbs: Tensor, target_limbs: Tensor, limb_mask: Tensor) -> Tensor:
    """Mean absolute endpoint error over each person's visible limbs.

    The mean (not the sum) keeps persons with few visible limbs from being favoured.

    Args:
        pred_limbs: (N, Q, 4L) predicted endpoints.
        target_limbs: (N, P, L, 4) target endpoints.
        limb_mask: (N, P, L) limb visibility.
    Returns:
        (N, Q, P) cost.
    """
    num_frames, num_queries, _ = pred_limbs.shape
    _, num_persons, num_limbs, _ = target_limbs.shape
    pred = pred_limbs.float().view(num_frames, num_queries, num_limbs, 4).transpose(1, 2)  # (N, L, Q, 4)
    target = target_limbs.float().transpose(1, 2)  # (N, L, P, 4)
    dist = torch.cdist(pred.reshape(-1, num_queries, 4), target.reshape(-1, num_persons, 4), p=1)
    dist = dist.view(num_frames, num_limbs, num_queries, num_persons)
    visible = limb_mask.sum(dim=2).clamp(min=1)  # (N, P)
    return torch.einsum("nlqp,npl->nqp", dist, limb_mask.float()) / (4 * visible[:, None, :])


@torch.no_grad()
def hungarian_match(pred_limbs: Tensor, targets: PaddedTargets) -> list[tuple[np.ndarray, np.ndarray]]:
    """Assign queries to persons, frame by frame, minimising the total ``limb_cost``.

    Args:
        pred_limbs: (N, Q, 4L) predicted endpoints.
    Returns:
        per frame, (query indices, person indices) of the matched pairs, min(Q, P_n) each.
    """
    if targets.limbs.shape[1] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return [(empty, empty)] * len(pred_limbs)
    cost = limb_cost(pred_limbs.detach(), targets.limbs, targets.limb_mask).cpu().numpy()
    return [linear_sum_assignment(frame_cost[:, :count]) for frame_cost, count in zip(cost, targets.counts)]
