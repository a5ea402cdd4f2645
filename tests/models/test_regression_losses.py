import math

import numpy as np
import pytest
import torch

from vemd.eval.metrics import concordance_correlation
from vemd.models.regression import CCCLoss, LogCoshLoss, MSELoss, ccc, regression_loss, valid_targets

PRED = [1.0, 2.0, 3.0, 4.0]
TARGET = [2.0, 2.0, 4.0, 4.0]


def test_ccc_hand_example_matches_numpy_metric():
    # pred p = 1 2 3 4, target t = 2 2 4 4
    # mean_p = 2.5, mean_t = 3; deviations p: -1.5 -0.5 0.5 1.5, t: -1 -1 1 1
    # var_p = (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25, var_t = 4 / 4 = 1
    # cov = (1.5 + 0.5 + 0.5 + 1.5) / 4 = 1
    # CCC = 2 * 1 / (1.25 + 1 + (2.5 - 3)^2) = 2 / 2.5 = 0.8
    # (sample moments would give (8/3) / (5/3 + 4/3 + 0.25) = 0.8205; no mean term 2 / 2.25 = 0.889)
    value = ccc(torch.tensor(PRED), torch.tensor(TARGET))
    assert value.item() == pytest.approx(0.8, abs=1e-6)
    assert value.item() == pytest.approx(concordance_correlation(np.array(TARGET), np.array(PRED)), abs=1e-6)


def test_ccc_identical_is_one_and_reversed_is_minus_one():
    t = torch.tensor(PRED)
    assert ccc(t, t.clone()).item() == pytest.approx(1.0, abs=1e-6)
    # 4 3 2 1 against 1 2 3 4: equal means 2.5, cov = -1.25, var = 1.25 each → -2.5 / 2.5 = -1
    assert ccc(t.flip(0), t).item() == pytest.approx(-1.0, abs=1e-6)
    # two equal constants: 0 / 0 taken as perfect agreement, as the numpy metric does
    c = torch.full((3,), 0.5)
    assert ccc(c, c).item() == concordance_correlation(c.numpy(), c.numpy()) == 1.0


def test_ccc_per_column_and_along_another_dim():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(50, 2, generator=g), torch.randn(50, 2, generator=g)
    columns = ccc(pred, target)
    assert columns.shape == (2,)
    for d in range(2):
        expected = concordance_correlation(target[:, d].numpy(), pred[:, d].numpy())
        assert columns[d].item() == pytest.approx(expected, abs=1e-5)
    assert torch.allclose(ccc(pred.T, target.T, dim=1), columns)


def test_ccc_loss_averages_one_minus_ccc_over_columns():
    # column 0 is the hand example (CCC 0.8), column 1 identical (CCC 1): loss = (0.2 + 0) / 2 = 0.1
    pred = torch.tensor([PRED, PRED]).T
    target = torch.tensor([TARGET, PRED]).T
    assert CCCLoss()(pred, target).item() == pytest.approx(0.1, abs=1e-6)


def test_ccc_loss_leaves_out_minus_five_nan_and_masked_targets():
    # a 5th frame marked -5 (AffWild2's unlabelled frame) with a wild prediction
    pred = torch.tensor(PRED + [40.0], requires_grad=True)
    target = torch.tensor(TARGET + [-5.0])
    loss = CCCLoss()(pred, target)
    assert loss.item() == pytest.approx(0.2, abs=1e-6)
    assert CCCLoss()(pred.detach(), torch.tensor(TARGET + [float("nan")])).item() == pytest.approx(
        0.2, abs=1e-6
    )
    valid = torch.tensor([True] * 4 + [False])
    assert CCCLoss()(pred.detach(), torch.tensor(TARGET + [7.0]), valid).item() == pytest.approx(
        0.2, abs=1e-6
    )
    loss.backward()
    assert pred.grad[4].item() == 0.0 and torch.isfinite(pred.grad).all() and pred.grad[:4].abs().sum() > 0


def test_all_invalid_batch_gives_zero_loss_and_finite_gradient():
    pred = torch.randn(3, 2, requires_grad=True)
    target = torch.full((3, 2), -5.0)
    for loss_fn in (CCCLoss(), LogCoshLoss(), MSELoss()):
        loss = loss_fn(pred, target)
        loss.backward()
        assert loss.item() == 0.0 and torch.isfinite(pred.grad).all()
    assert torch.isnan(ccc(pred, target)).all()


def test_logcosh_hand_example_without_overflow():
    # differences 0, 1, -2, 100: log cosh 0 = 0, log cosh 1 = log 1.5430806 = 0.4337808,
    # log cosh 2 = log 3.7621957 = 1.3250027, log cosh 100 = 100 - log 2 = 99.3068528 (cosh overflows float32)
    # sum = 101.0656364 (Eq. 3), mean = 25.2664091
    target = torch.zeros(4)
    pred = torch.tensor([0.0, 1.0, -2.0, 100.0])
    assert LogCoshLoss(reduction="sum")(pred, target).item() == pytest.approx(101.0656364, rel=1e-6)
    assert LogCoshLoss()(pred, target).item() == pytest.approx(25.2664091, rel=1e-6)
    masked = torch.tensor([0.0, 0.0, 0.0, -5.0])
    assert LogCoshLoss()(pred, masked).item() == pytest.approx((0.4337808 + 1.3250027) / 3, rel=1e-6)


def test_mse_hand_example_with_mask():
    # squared errors 1, 4 (the -5 frame left out): mean 2.5
    pred, target = torch.tensor([1.0, 0.0, 9.0]), torch.tensor([0.0, 2.0, -5.0])
    assert MSELoss()(pred, target).item() == pytest.approx(2.5)
    assert MSELoss(reduction="sum")(pred, target).item() == pytest.approx(5.0)


def test_valid_targets_combines_mask_and_markers():
    target = torch.tensor([[0.1, -5.0], [math.nan, 0.3]])
    valid = torch.tensor([[True, True], [True, False]])
    assert valid_targets(target, valid).tolist() == [[True, False], [False, False]]


def test_regression_loss_factory():
    assert isinstance(regression_loss("ccc"), CCCLoss)
    assert isinstance(regression_loss("logcosh"), LogCoshLoss)
    assert isinstance(regression_loss("mse"), MSELoss)
    with pytest.raises(ValueError, match="unknown regression loss 'rmse': expected one of ccc, logcosh, mse"):
        regression_loss("rmse")
    with pytest.raises(ValueError, match="one shape"):
        CCCLoss()(torch.zeros(3), torch.zeros(4))
