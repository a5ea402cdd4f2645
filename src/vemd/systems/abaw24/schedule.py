"""How the ABAW 2024 models train (its §4.4): the learning-rate schedule of both models, and the
discriminative rates and gradual unfreezing of the static model's backbone.

* **schedule** (both models): "a linear LR warmup ... with a starting value of 0.00005 for the
  first 100 training steps", then "the cyclic LR scheduler ... with a minimum LR value of 0.0001
  and an annealing period of 5": timm's :class:`~timm.scheduler.CosineLRScheduler` (warm-up,
  then cosine cycles of ``cycle_epochs`` epochs from the stage's rate to ``min_lr``, each
  cycle starting again from the top), set before every update from the update's number alone
  (``step_update``), so a resumed stage has the rates of an uninterrupted one;
* **discriminative rates** (static model): "a 0.9 factor for every LR of consecutive layers
  starting from newly initialized ones": timm's layer groups of the backbone (stem, each block,
  the head convolution; :func:`timm.optim.param_groups_layer_decay`), the new layers (Fig. 2's
  embedding and head) at the stage's rate, the backbone's top group at ``layer_decay`` times it,
  the one below at ``layer_decay``² times, and so on (the scale rides in timm's ``lr_scale``);
* **gradual unfreezing** (static model): "only the added layers are unfrozen first, with more
  layers ... being unfrozen in subsequent epochs": in epoch e (from 0) the new layers and the
  backbone's top e × ``unfreeze_per_epoch`` layer groups train. The paper gives no count per
  epoch; the authors' released code unfreezes one a epoch.

The shared epoch loop (:func:`vemd.train.epochs.train_epochs`) builds its optimizer itself and
steps it; :meth:`StepSchedule.active` reaches that optimizer through torch's optimizer step
pre-hook (:func:`torch.optim.optimizer.register_optimizer_step_pre_hook`), for the length of
one stage and for that stage's optimizer only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


def backbone_layers(backbone: nn.Module) -> list[list[nn.Parameter]]:
    """A timm backbone's parameters in its layer groups (its ``group_matcher``), input first."""
    from timm.models import group_parameters

    named = dict(backbone.named_parameters())
    groups = group_parameters(backbone, backbone.group_matcher(coarse=False))
    return [[named[name] for name in groups[k]] for k in sorted(groups)]


def discriminative_groups(
    backbone: nn.Module, new_layers: list[nn.Parameter], *, layer_decay: float, weight_decay: float
) -> list[dict]:
    """Optimizer parameter groups of §4.4's discriminative rates (module docstring): timm's
    layer-decay groups of ``backbone`` moved one step below ``new_layers``, which keep the
    stage's rate. Each group's ``lr_scale`` is applied by the schedule (:func:`scheduler`)."""
    from timm.optim import param_groups_layer_decay

    groups = param_groups_layer_decay(backbone, weight_decay=weight_decay, layer_decay=layer_decay)
    for group in groups:  # timm gives its top group 1; below the new layers it is layer_decay
        group["lr_scale"] *= layer_decay
    return [{"params": new_layers, "lr_scale": 1.0, "weight_decay": weight_decay}, *groups]


class GradualUnfreezing:
    """Epoch e (from 0): the backbone's top e × ``per_epoch`` layer groups train, the rest are
    frozen (``per_epoch`` 0: all of them train). Call it at the start of every epoch."""

    def __init__(self, layers: list[list[nn.Parameter]], per_epoch: int) -> None:
        self.layers, self.per_epoch = layers, per_epoch

    def __call__(self, epoch: int) -> None:
        if not self.per_epoch:
            return
        first_trained = len(self.layers) - epoch * self.per_epoch
        for i, params in enumerate(self.layers):
            for p in params:
                p.requires_grad_(i >= first_trained)


def scheduler(optimizer: torch.optim.Optimizer, a, steps_per_epoch: int):
    """timm's scheduler of §4.4 over ``optimizer`` (its groups' ``lr`` the stage's rate): a
    linear warm-up from ``a.warmup_lr`` over ``a.warmup_steps`` updates, then cosine cycles of
    ``a.cycle_epochs`` epochs down to ``a.min_lr`` (no cycle: the stage's rate), in updates."""
    from timm.scheduler import CosineLRScheduler, StepLRScheduler

    warmup = {"warmup_t": a.warmup_steps, "warmup_lr_init": a.warmup_lr, "t_in_epochs": False}
    if a.cycle_epochs > 0:
        period = max(1, round(a.cycle_epochs * steps_per_epoch))
        return CosineLRScheduler(
            optimizer, t_initial=period, lr_min=a.min_lr, cycle_limit=2**31, warmup_prefix=True, **warmup
        )
    return StepLRScheduler(optimizer, decay_t=2**31, decay_rate=1.0, **warmup)  # warm-up, then flat


class StepSchedule:
    """The rates of one epoch-loop stage set before each of its updates by ``make(optimizer)``
    (a timm scheduler, :func:`scheduler`), whose ``step_update`` is given the update's number:
    ``epoch × steps_per_epoch`` + the updates of the epoch so far (:meth:`at_epoch` starts an
    epoch). ``params``: the stage's parameters, by which its optimizer is known."""

    def __init__(self, make: Callable, params, steps_per_epoch: int) -> None:
        self.make, self.steps_per_epoch = make, steps_per_epoch
        self.params = {
            id(p) for group in params for p in (group["params"] if isinstance(group, dict) else [group])
        }
        self.update, self.current = 0, None  # the next update's number; (optimizer, scheduler)

    def at_epoch(self, epoch: int) -> None:
        self.update = epoch * self.steps_per_epoch

    def _before_step(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        if not any(id(p) in self.params for group in optimizer.param_groups for p in group["params"]):
            return  # another optimizer's step
        if self.current is None or self.current[0] is not optimizer:
            self.current = (optimizer, self.make(optimizer))
        self.current[1].step_update(self.update)
        self.update += 1

    @contextmanager
    def active(self) -> Iterator[StepSchedule]:
        """While inside, every step of the stage's optimizer first takes its scheduled rates."""
        from torch.optim.optimizer import register_optimizer_step_pre_hook

        handle = register_optimizer_step_pre_hook(self._before_step)
        try:
            yield self
        finally:
            handle.remove()


def steps_per_epoch(items: int, batch_size: int) -> int:
    """Updates of one epoch of the loop: its batches."""
    return max(1, math.ceil(items / batch_size))
