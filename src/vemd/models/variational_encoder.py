"""The variational encoder: two branches concatenated into the latent map (paper §3.1, §4.3).

``variational`` selects the training variant of Table 3:

* ``ve`` — a Gaussian latent sampled with the reparameterisation trick while training,
  regularised toward N(0, I) by MMD (the default);
* ``vae`` — the same Gaussian latent, with a reconstruction decoder and a KL term (ELBO);
* ``vanilla`` — a deterministic latent without constraint.

At evaluation the latent is the mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vemd.models.cnn_branch import CNNBranch
from vemd.models.vit_branch import ViTBranch

VARIANTS = ("ve", "vae", "vanilla")
LOGVAR_INIT = -4.0


@dataclass
class EncoderOutput:
    """Latent maps, each (N, 2·latent_dim, s, s) with N = B·T frames.

    ``latent`` is what the decoders see: a sample while training a stochastic variant, else
    the mean. ``mean``/``logvar`` are None for ``vanilla``.
    """

    latent: torch.Tensor
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


class VariationalEncoder(nn.Module):
    """[Z1 (ViT branch) ; Z2 (multitask branch)] → latent (N, 2·latent_dim, s, s).

    Without a ViT branch (``vit_branch=None``, the Custom-encoder experiments of Table 3) the
    multitask branch alone gives the latent, its projection then 2·latent_dim wide.
    """

    def __init__(
        self,
        vit_branch: ViTBranch | None,
        cnn_branch: CNNBranch,
        *,
        variational: str,
        logvar_init: float = LOGVAR_INIT,
    ) -> None:
        super().__init__()
        if variational not in VARIANTS:
            raise ValueError(f"variational={variational!r}: expected one of {VARIANTS}")
        self.vit_branch = vit_branch
        self.cnn_branch = cnn_branch
        self.variational = variational
        channels = self.latent_channels
        self.logvar = nn.Conv2d(channels, channels, 1) if variational != "vanilla" else None
        if self.logvar is not None:
            # Start near-deterministic (σ ≈ 0.14 by default) so early classification is not
            # drowned in sampling noise; the MMD/KL term widens the posterior as training proceeds.
            nn.init.zeros_(self.logvar.weight)
            nn.init.constant_(self.logvar.bias, logvar_init)

    @property
    def latent_channels(self) -> int:
        vit = 0 if self.vit_branch is None else self.vit_branch.proj.out_channels
        return vit + self.cnn_branch.proj.out_channels

    def forward(self, frames: torch.Tensor, vit_tokens: torch.Tensor | None = None) -> EncoderOutput:
        """Frames (N, 3, H, W), optionally with cached ViT tokens (N, D, gh, gw) → :class:`EncoderOutput`."""
        z2 = self.cnn_branch(frames)  # (N, C_e, s, s); (N, 2·C_e, s, s) without a ViT branch
        if self.vit_branch is None:
            mean = z2
        else:
            z1 = self.vit_branch(frames, tokens=vit_tokens)  # (N, C_e, s, s)
            mean = torch.cat([z1, z2], dim=1)  # (N, 2·C_e, s, s)
        if self.logvar is None:
            return EncoderOutput(latent=mean)
        logvar = self.logvar(mean)
        latent = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if self.training else mean
        return EncoderOutput(latent=latent, mean=mean, logvar=logvar)
