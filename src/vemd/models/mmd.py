"""Maximum Mean Discrepancy between a batch of latents and samples of the N(0, I) prior.

The paper regularises the latent toward a Gaussian with MMD (§3.4). vemd compares the
*batch* of flattened latents with as many prior draws (one row per frame), which is what the
paper describes; the authors' released code (augusmaa/VE_MD_2025) instead compared rows inside each sample.

Kernel: a sum of RBF kernels k(x, y) = exp(-‖x - y‖² / (2σ²)) with σ = factor · √dim for each
factor in ``bandwidths``. Under the prior E‖x - y‖² = 2·dim, so factor 1 puts the typical pair
at exp(-1) whatever the latent size; 0.5 and 2 cover tighter and looser scales.
"""

from __future__ import annotations

import torch


def rbf_kernel(x: torch.Tensor, y: torch.Tensor, bandwidths: list[float] | tuple[float, ...]) -> torch.Tensor:
    """(N, D), (M, D) → (N, M) multi-bandwidth RBF kernel, σ = factor · √D."""
    sq = torch.cdist(x, y).pow(2)
    dim = x.shape[1]
    return sum(torch.exp(-sq / (2.0 * factor**2 * dim)) for factor in bandwidths)


def mmd(
    x: torch.Tensor, y: torch.Tensor, bandwidths: list[float] | tuple[float, ...] = (0.5, 1.0, 2.0)
) -> torch.Tensor:
    """Unbiased MMD² estimate between samples x (N, D) and y (M, D), N, M ≥ 2 (0 in expectation when equal)."""
    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = rbf_kernel(x, x, bandwidths), rbf_kernel(y, y, bandwidths), rbf_kernel(x, y, bandwidths)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2.0 * kxy.mean()


def mmd_to_prior(
    latent: torch.Tensor, bandwidths: list[float] | tuple[float, ...] = (0.5, 1.0, 2.0)
) -> torch.Tensor:
    """MMD² between latents (N, ...) flattened per row and N draws of N(0, I); 0 when N < 2."""
    x = latent.flatten(1).float()
    if x.shape[0] < 2:
        return x.new_zeros(())
    return mmd(x, torch.randn_like(x), bandwidths)
