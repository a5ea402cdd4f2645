"""The one optimizer factory of every training stage (VE-MD's Lightning stages, the epoch loop),
VE-MD's warm-up + cosine schedule, and the one check that stops a stage whose loss diverged."""

from __future__ import annotations

import math

import torch

from vemd.errors import VemdError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def make_optimizer(
    kind: str, params, lr: float, weight_decay: float, *, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``kind`` (adam | adamw | sgd) over ``params``; SGD with ``momentum``."""
    extra = {"momentum": momentum} if kind == "sgd" else {}
    return OPTIMIZERS[kind](params, lr=lr, weight_decay=weight_decay, **extra)


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float):
    """The per-step schedule of a VE-MD stage: linear warm-up from 1 % of the rate over
    ``warmup_fraction`` of ``total_steps``, then cosine decay to 0 over the rest."""
    warmup = min(total_steps - 1, int(total_steps * warmup_fraction))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup))
    if not warmup:
        return scheduler
    start = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [start, scheduler], milestones=[warmup])


def check_finite_loss(terms: dict[str, torch.Tensor], where: str, lr: float) -> None:
    """Stop training with one line when a loss term is NaN or infinite: every later step would
    spread it into the weights, and the run would export a model that is NaN throughout.

    ``terms``: the loss terms of a step (the total among them); ``where``: the stage and step.
    One device sync per step, far cheaper than autograd's anomaly detection.
    """
    values = torch.stack([t.detach().float().sum() for t in terms.values()])  # (terms,)
    if bool(torch.isfinite(values).all()):
        return
    bad = [
        f"{name}={float(value):g}" for name, value in zip(terms, values.tolist()) if not math.isfinite(value)
    ]
    raise VemdError(
        f"{where}: the training loss is not finite ({', '.join(bad)}): training diverged and nothing "
        f"is exported; lower the learning rate (now {lr:g}) or check the loss weights"
    )
