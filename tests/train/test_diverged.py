"""A training loss that becomes NaN or infinite stops the stage with one line, and nothing is
exported (``vemd fit --set train.lr=inf`` exported a model with NaN in 119 tensors, exit 0)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vemd.config import StageTrainConfig
from vemd.errors import VemdError


def test_finite_terms_pass_and_a_non_finite_one_is_named():
    from vemd.train.optim import check_finite_loss

    check_finite_loss({"loss_cls": torch.tensor(0.7), "loss": torch.tensor(0.9)}, "stage 2, step 3", 1e-4)
    terms = {
        "loss_cls": torch.tensor(0.7),
        "loss_mmd": torch.tensor(math.inf),
        "loss": torch.tensor(math.nan),
    }
    with pytest.raises(
        VemdError, match=r"^stage 2, step 3: .*not finite \(loss_mmd=inf, loss=nan\).*now 0.5"
    ):
        check_finite_loss(terms, "stage 2, step 3", 0.5)


def test_the_epoch_loop_stops_on_a_nan_loss_before_stepping(tmp_path):
    from vemd.train.epochs import train_epochs

    module = nn.Linear(2, 1)
    before = module.weight.detach().clone()
    schedule = StageTrainConfig("sgd", 1e-2, 0.0, 2, 3, 3)
    with pytest.raises(
        VemdError, match=r"^audio branch, epoch 1: the training loss is not finite \(loss=nan\)"
    ):
        train_epochs(
            "audio branch",
            1,
            module,
            module.parameters(),
            loss_of=lambda rows: module(torch.ones(len(rows), 2)).sum() * math.nan,
            score_of=lambda: 0.0,
            train_rows=torch.arange(4),
            schedule=schedule,
            seed=0,
            folder=tmp_path,
            setting="s",
            resume=False,
        )
    assert torch.equal(module.weight, before)  # the NaN never reached the weights
    assert not (tmp_path / "state.pt").exists()
