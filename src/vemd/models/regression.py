"""Losses for continuous valence/arousal regression: CCC (Eq. 2), LogCosh (Eq. 3) and MSE.

CCC is the challenge measure (§5) and ``1 - CCC`` its loss form; the static visual models train
on LogCosh (§5.2). Every loss takes ``pred`` and ``target`` of the same shape, e.g. (N, 2) for
the valence and arousal columns, and an optional boolean ``valid`` mask broadcastable to it
((N, 1) masks whole frames). A target is left out when the mask is False, when it is NaN, or when
it equals ``INVALID_TARGET`` (−5, AffWild2's mark of a frame without a valence/arousal label).
Masking is per element: a frame whose valence is −5 still counts for its arousal column if that
one is labelled.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INVALID_TARGET = -5.0


def valid_targets(target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the usable targets: not NaN, not −5 and, if given, where ``valid`` is True."""
    mask = ~torch.isnan(target) & (target != INVALID_TARGET)
    return mask if valid is None else mask & valid.to(torch.bool)


def _masked_ccc(
    pred: torch.Tensor, target: torch.Tensor, dim: int, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """CCC along ``dim`` over the masked elements and how many there were (both reduced over dim)."""
    weight = mask.to(pred.dtype)
    count = weight.sum(dim, keepdim=True)
    n = count.clamp(min=1)
    # Zero out the left-out targets so that a NaN among them cannot reach the sums or the gradient.
    x = torch.where(mask, pred, torch.zeros_like(pred))
    y = torch.where(mask, target.to(pred.dtype), torch.zeros_like(pred))
    mean_x = (weight * x).sum(dim, keepdim=True) / n
    mean_y = (weight * y).sum(dim, keepdim=True) / n
    dx, dy = weight * (x - mean_x), weight * (y - mean_y)
    # Population moments (divide by n, not n - 1), as in Eq. 2 and vemd.eval.metrics.
    covariance = (dx * dy).sum(dim) / n.squeeze(dim)
    var_x, var_y = (dx**2).sum(dim) / n.squeeze(dim), (dy**2).sum(dim) / n.squeeze(dim)
    denominator = var_x + var_y + (mean_x - mean_y).squeeze(dim) ** 2
    # Two equal constants are perfectly concordant; the safe denominator keeps the gradient finite.
    constant = denominator == 0
    value = 2 * covariance / torch.where(constant, torch.ones_like(denominator), denominator)
    return torch.where(constant, torch.ones_like(value), value), count.squeeze(dim)


def ccc(
    pred: torch.Tensor, target: torch.Tensor, dim: int = 0, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Lin's concordance correlation coefficient (Eq. 2) along ``dim``, differentiable.

    ``2 cov(p, t) / (var_p + var_t + (mean_p - mean_t)^2)`` with population statistics; equal to
    :func:`vemd.eval.metrics.concordance_correlation` on each slice. Shapes: pred, target (N, D) with
    dim=0 → (D,); a slice with no valid target gives NaN.
    """
    if pred.shape != target.shape:
        raise ValueError(
            f"ccc needs pred and target of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    value, count = _masked_ccc(pred, target, dim, valid_targets(target, valid))
    return torch.where(count > 0, value, torch.full_like(value, float("nan")))


def _empty_loss(pred: torch.Tensor) -> torch.Tensor:
    """Zero loss still attached to the graph, for a batch without any valid target."""
    return pred.sum() * 0


class CCCLoss(nn.Module):
    """``1 - CCC`` along ``dim`` (the items), averaged over the other entries (e.g. valence, arousal).

    Shapes: pred, target (N, D) → scalar. Columns without any valid target are left out of the
    average; a batch without any gives 0.
    """

    def __init__(self, dim: int = 0) -> None:
        super().__init__()
        self.dim = dim

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"CCCLoss needs pred and target of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        value, count = _masked_ccc(pred, target, self.dim, valid_targets(target, valid))
        defined = count > 0
        return (1 - value[defined]).mean() if defined.any() else _empty_loss(pred)


class _ElementwiseLoss(nn.Module):
    """Mean (or sum) of an elementwise penalty of ``pred - target`` over the valid targets → scalar."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction

    def penalty(self, difference: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"{type(self).__name__} needs pred and target of one shape, "
                f"got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        mask = valid_targets(target, valid)
        if not mask.any():
            return _empty_loss(pred)
        terms = self.penalty(pred[mask] - target[mask].to(pred.dtype))
        return terms.mean() if self.reduction == "mean" else terms.sum()


class LogCoshLoss(_ElementwiseLoss):
    """``log(cosh(pred - target))`` (Eq. 3); ``reduction="sum"`` is Eq. 3 itself, "mean" divides by n.

    Computed as ``|x| + log1p(exp(-2|x|)) - log 2``, which does not overflow where cosh would.
    """

    def penalty(self, difference: torch.Tensor) -> torch.Tensor:
        magnitude = difference.abs()
        return magnitude + torch.log1p(torch.exp(-2 * magnitude)) - math.log(2.0)


class MSELoss(_ElementwiseLoss):
    """Squared error ``(pred - target)^2`` over the valid targets."""

    def penalty(self, difference: torch.Tensor) -> torch.Tensor:
        return difference**2


REGRESSION_LOSSES: dict[str, type[nn.Module]] = {"ccc": CCCLoss, "logcosh": LogCoshLoss, "mse": MSELoss}


def regression_loss(name: str) -> nn.Module:
    """The loss named ``ccc``, ``logcosh`` or ``mse`` with its default settings."""
    if name not in REGRESSION_LOSSES:
        raise ValueError(f"unknown regression loss {name!r}: expected one of {', '.join(REGRESSION_LOSSES)}")
    return REGRESSION_LOSSES[name]()
