"""The one optimizer factory of every training stage (VE-MD's Lightning stages, the epoch loop)."""

from __future__ import annotations

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def make_optimizer(
    kind: str, params, lr: float, weight_decay: float, *, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``kind`` (adam | adamw | sgd) over ``params``; SGD with ``momentum``."""
    extra = {"momentum": momentum} if kind == "sgd" else {}
    return OPTIMIZERS[kind](params, lr=lr, weight_decay=weight_decay, **extra)
