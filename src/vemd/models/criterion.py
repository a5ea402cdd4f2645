"""The VE-MD loss (paper §3.4, SPEC §7): ``L = L_cls + Σ β_p·L_p + β_mmd·L_MMD`` (+ KL and
reconstruction for the ``vae`` variant).

Returns a dict of unweighted ``loss_*`` terms and the weighted total under ``loss``. Structural
terms are computed on the frames whose ``target_mask`` is True only, and only when the model
produced structural predictions (training, or ``auxiliary=True``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from vemd.models.mmd import mmd_to_prior
from vemd.models.outputs import VEMDOutput


def select_frames(pred: dict, keep: torch.Tensor) -> dict:
    """Index every tensor (or tuple of tensors) of a decoder output dict by frame mask ``keep`` (N,)."""
    out = {}
    for key, value in pred.items():
        out[key] = tuple(v[keep] for v in value) if isinstance(value, tuple) else value[keep]
    return out


def kl_to_prior(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, I)), averaged over latent elements."""
    return 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).mean()


class VEMDCriterion:
    """Loss terms and their weighted sum.

    Args:
        struct_losses: per modality, the decoder's ``loss(out, targets) -> {term: value}``.
        struct_weights: β_p per modality.
        term_weights: weight of each decoder term inside L_p (β_limb, β_adj; heatmap MSE 1).
        variational: ``ve`` (MMD), ``vae`` (KL + reconstruction) or ``vanilla``.
        cls_weight, mmd_weight, kl_weight, recon_weight: term weights.
        mmd_bandwidths: RBF bandwidth factors (× √dim) of the MMD kernel.
    """

    def __init__(
        self,
        *,
        struct_losses: dict[str, Callable[..., dict[str, torch.Tensor]]],
        struct_weights: dict[str, float],
        term_weights: dict[str, float],
        variational: str,
        cls_weight: float = 1.0,
        mmd_weight: float = 0.1,
        mmd_bandwidths: tuple[float, ...] = (0.5, 1.0, 2.0),
        kl_weight: float = 0.1,
        recon_weight: float = 1.0,
    ) -> None:
        self.struct_losses = struct_losses
        self.weights = {"loss_cls": cls_weight, "loss_mmd": mmd_weight, "loss_kl": kl_weight}
        self.weights |= {"loss_recon": recon_weight} | {f"loss_{m}": w for m, w in struct_weights.items()}
        self.term_weights = term_weights
        self.variational = variational
        self.mmd_bandwidths = mmd_bandwidths

    def structural(self, pred: dict, targets, keep: torch.Tensor, modality: str) -> torch.Tensor:
        """L_p of one modality over the annotated frames; a graph-connected 0 when there are none."""
        if not bool(keep.any()):
            return sum(v.sum() for v in pred.values() if isinstance(v, torch.Tensor)) * 0.0
        if isinstance(targets, torch.Tensor):
            targets = targets.flatten(0, 1)[keep]  # (n, L, H, W)
        else:
            targets = [t for t, k in zip(targets, keep.tolist()) if k]
        terms = self.struct_losses[modality](select_frames(pred, keep), targets)
        return sum(self.term_weights.get(k, 1.0) * v for k, v in terms.items())

    def __call__(
        self,
        output: VEMDOutput,
        labels: torch.Tensor,
        *,
        targets: dict | None = None,
        target_mask: torch.Tensor | None = None,
        frames: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss terms for a batch.

        Args:
            output: the model output.
            labels: (B,) class indices.
            targets: structural targets per modality (see :mod:`vemd.models.vemd`).
            target_mask: (B, T) bool, frames that carry an annotation (default: all).
            frames: (B, T, 3, H, W) input frames, needed by the ``vae`` reconstruction term.
        """
        losses = {"loss_cls": F.cross_entropy(output.logits.float(), labels)}
        for modality in self.struct_losses:
            pred = output.structure(modality)
            if pred is None or targets is None or modality not in targets:
                continue
            n = output.latent.shape[0]
            keep = (
                torch.ones(n, dtype=torch.bool, device=labels.device)
                if target_mask is None
                else target_mask.flatten()
            )
            losses[f"loss_{modality}"] = self.structural(pred, targets[modality], keep, modality)
        if self.variational == "ve":
            losses["loss_mmd"] = mmd_to_prior(output.latent, self.mmd_bandwidths)
        if self.variational == "vae" and output.latent_mean is not None:
            losses["loss_kl"] = kl_to_prior(output.latent_mean, output.latent_logvar)
        if output.recon is not None and frames is not None:
            losses["loss_recon"] = F.mse_loss(output.recon.float(), frames.flatten(0, 1).float())
        losses["loss"] = sum(self.weights[k] * v for k, v in losses.items())
        return losses
