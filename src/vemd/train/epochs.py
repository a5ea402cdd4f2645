"""An epoch loop with exact resume, for the models vemd trains outside Lightning.

The multimodal branches and fusion (paper §7) and the branches of the EmotiW 2020 and
ABAW 2024 systems train on a few thousand items with one optimizer: :func:`train_epochs`
runs their epochs, keeps the weights of the best validation score and stops early after
``patience`` epochs without a better one. It saves its state after every epoch (atomically,
read back weights-only); with ``resume`` it goes on from there. Each epoch's shuffle and
dropout draw from a generator seeded by (seed, stage id, epoch), so a killed and resumed run
ends with the weights of an uninterrupted one. A state written under other settings (the
caller's ``setting``: a fingerprint of :mod:`vemd.train.resume`) is refused in one line naming
what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from vemd.config import StageTrainConfig
from vemd.errors import VemdError
from vemd.io import atomic_write
from vemd.train.optim import check_finite_loss, make_optimizer
from vemd.train.resume import load_state

log = logging.getLogger(__name__)


def epoch_generator(seed: int, stage_id: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + stage_id * 10_007 + epoch)


def train_epochs(
    name: str,
    stage_id: int,
    module: nn.Module,
    params,
    *,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    score_of: Callable[[], float],
    train_rows: torch.Tensor,
    schedule: StageTrainConfig,
    seed: int,
    folder: Path,
    setting: str,
    resume: bool,
    on_epoch: Callable[[int], None] | None = None,
) -> float:
    """Train ``module`` (its ``params``) as ``schedule`` says and leave it with its best weights;
    returns that score. ``seed`` seeds each epoch's shuffle and dropout (with ``stage_id``).

    ``loss_of(rows)``: the training loss of a batch of ``train_rows``; ``score_of()``: the
    validation score (higher is better) of the module as it is; ``on_epoch(epoch)``: called
    before each epoch (e.g. to set a dataset's augmentation epoch).
    """
    folder.mkdir(parents=True, exist_ok=True)
    optimizer = make_optimizer(schedule.optimizer, params, schedule.lr, schedule.weight_decay)
    if not len(train_rows):
        raise VemdError(f"{name}: no training item")
    state = load_state(folder / "state.pt", setting) if resume else None
    if state is not None:
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        log.info("%s: resuming after epoch %d", name, state["epoch"])
    epoch = state["epoch"] if state else 0
    best, best_state, bad = (
        (state["best"], state["best_state"], state["bad"]) if state else (-float("inf"), None, 0)
    )
    done = state.get("done", False) if state else False
    while not done and epoch < schedule.epochs:
        gen = epoch_generator(seed, stage_id, epoch)
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))  # dropout of this epoch
        if on_epoch is not None:
            on_epoch(epoch)
        module.train()
        order = train_rows[torch.randperm(len(train_rows), generator=gen)]
        total = 0.0
        for rows in order.split(schedule.batch_size):
            loss = loss_of(rows)
            check_finite_loss({"loss": loss}, f"{name}, epoch {epoch + 1}", schedule.lr)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        module.eval()
        with torch.no_grad():
            score = float(score_of())
        epoch += 1
        if score > best or best_state is None:
            best, best_state, bad = score, {k: v.detach().clone() for k, v in module.state_dict().items()}, 0
        else:
            bad += 1
        done = bad >= schedule.patience or epoch >= schedule.epochs
        log.info(
            "%s epoch %d: train loss %.4f, val %.4f (best %.4f)",
            name,
            epoch,
            total / len(train_rows),
            score,
            best,
        )
        payload = {
            "setting": setting,
            "module": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "best": best,
            "best_state": best_state,
            "bad": bad,
            "done": done,
        }
        save_state(folder / "state.pt", payload)
    module.load_state_dict(best_state)
    module.eval()
    return best


def save_state(path: Path, payload: dict) -> None:
    """Write a stage's state atomically (a kill never leaves half a file)."""
    atomic_write(path, lambda handle: torch.save(payload, handle))
