"""The VE-MD loss (paper §3.4, eq. 2): ``L = L_cls + Σ_p β_p·L_p + β_mmd·L_MMD`` (+ KL and
reconstruction for the ``vae`` variant, + ``β_val·L_valence`` for a model with a valence head,
the MER2023 protocol's regression of valence beside the classes).

As in DETR's criterion, every term is computed unweighted under a ``loss_*`` name and the total
sums only the terms that have an entry in a weight dict: ``weight_dict`` for the terms of L,
``struct_weight_dicts[modality]`` for the terms of L_p (β_limb, β_adj for PersonQuery; one
per supervised stage for Heatmap). A new term is one computed entry plus one weight. Counts
and other diagnostics are returned in a dict of their own and never summed. Structural terms
are computed on the frames whose ``target_mask`` is True only, and only when the model
produced structural predictions (training, or ``auxiliary=True``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from vemd.models.mmd import mmd_to_prior
from vemd.models.outputs import VEMDOutput
from vemd.models.regression import regression_loss


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
    """Loss terms, their weighted sum and diagnostics.

    Args:
        struct_losses: per modality, the decoder's
            ``loss(out, targets) -> (terms, diagnostics)``, both ``{name: scalar}``.
        weight_dict: weight of each term of L (``loss_cls``, ``loss_mmd``, ``loss_kl``,
            ``loss_recon``, ``loss_valence``, and β_p as ``loss_<modality>``).
        struct_weight_dicts: per modality, weight of each decoder term inside L_p.
        variational: ``ve`` (MMD), ``vae`` (KL + reconstruction) or ``vanilla``.
        mmd_bandwidths: RBF bandwidth factors (× √dim) of the MMD kernel.
    """

    def __init__(
        self,
        *,
        struct_losses: dict[str, Callable[..., tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]]],
        weight_dict: dict[str, float],
        struct_weight_dicts: dict[str, dict[str, float]],
        variational: str,
        mmd_bandwidths: tuple[float, ...] = (0.5, 1.0, 2.0),
        valence_loss: str = "mse",
    ) -> None:
        self.valence_loss = valence_loss  # mse (MER2023's measure), ccc (1 - CCC) or logcosh
        self.struct_losses = struct_losses
        self.weight_dict = weight_dict
        self.struct_weight_dicts = struct_weight_dicts
        self.variational = variational
        self.mmd_bandwidths = mmd_bandwidths

    def structural(
        self, pred: dict, targets, keep: torch.Tensor, modality: str
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Unweighted terms and diagnostics of one modality over the annotated frames ``keep`` (N,).

        With no annotated frame every weighted term is a graph-connected 0 and there are no diagnostics.
        """
        if not bool(keep.any()):
            zero = sum(v.sum() for v in pred.values() if isinstance(v, torch.Tensor)) * 0.0
            return {name: zero for name in self.struct_weight_dicts[modality]}, {}
        if isinstance(targets, torch.Tensor):
            targets = targets.flatten(0, 1)[keep]  # (n, L, H, W)
        else:
            targets = [t for t, k in zip(targets, keep.tolist()) if k]
        return self.struct_losses[modality](select_frames(pred, keep), targets)

    def __call__(
        self,
        output: VEMDOutput,
        labels: torch.Tensor,
        *,
        targets: dict | None = None,
        target_mask: torch.Tensor | None = None,
        frames: torch.Tensor | None = None,
        valence: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Loss terms and diagnostics for a batch.

        Args:
            output: the model output.
            labels: (B,) class indices.
            targets: structural targets per modality (see :mod:`vemd.models.vemd`).
            target_mask: (B, T) bool, frames that carry an annotation (default: all).
            frames: (B, T, 3, H, W) input frames, needed by the ``vae`` reconstruction term.
            valence: (B,) valence targets, NaN for items without one (``loss_valence``).
        Returns:
            ``losses``: ``loss`` (the total), the terms of L (``loss_cls``, ``loss_mmd``, …,
            ``loss_<modality>`` = the weighted L_p) and each structural term unweighted as
            ``loss_<modality>_<term>`` (e.g. ``loss_body_limb``, ``loss_face_heatmap``);
            ``diagnostics``: ``<modality>_<name>`` (e.g. ``body_num_unmatched_persons``).
        """
        losses = {"loss_cls": F.cross_entropy(output.logits.float(), labels)}
        if output.latent_logits is not None:
            losses["loss_latent_probe"] = F.cross_entropy(output.latent_logits.float(), labels)
        diagnostics: dict[str, torch.Tensor] = {}
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
            terms, diag = self.structural(pred, targets[modality], keep, modality)
            losses[f"loss_{modality}"] = weighted_sum(terms, self.struct_weight_dicts[modality])
            losses |= {f"loss_{modality}_{k.removeprefix('loss_')}": v for k, v in terms.items()}
            diagnostics |= {f"{modality}_{k}": v for k, v in diag.items()}
        if self.variational == "ve":
            losses["loss_mmd"] = mmd_to_prior(output.latent, self.mmd_bandwidths)
        if self.variational == "vae" and output.latent_mean is not None:
            losses["loss_kl"] = kl_to_prior(output.latent_mean, output.latent_logvar)
        if output.recon is not None and frames is not None:
            losses["loss_recon"] = F.mse_loss(output.recon.float(), frames.flatten(0, 1).float())
        if output.valence is not None and valence is not None:
            losses["loss_valence"] = (
                valence_mse(output.valence, valence)
                if self.valence_loss == "mse"
                else regression_loss(self.valence_loss)(output.valence.float(), valence.float())
            )
        losses["loss"] = weighted_sum(losses, self.weight_dict)
        return losses, diagnostics


def valence_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE of predicted valences (B,) over the items whose target (B,) is not NaN; a
    graph-connected 0 when none has one."""
    has_target = ~torch.isnan(target)
    if not bool(has_target.any()):
        return pred.sum() * 0.0
    return F.mse_loss(pred.float()[has_target], target.float()[has_target])


def weighted_sum(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Σ weights[k]·terms[k] over the terms that have a weight (DETR's ``if k in weight_dict``)."""
    weighted = [weights[k] * v for k, v in terms.items() if k in weights]
    if not weighted:
        raise ValueError(f"no term of {sorted(terms)} has a weight (weights for {sorted(weights)})")
    return sum(weighted)
