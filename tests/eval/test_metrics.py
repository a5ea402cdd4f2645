import numpy as np
import pytest

from vemd.eval.metrics import (
    classification_metrics,
    concordance_correlation,
    mer_score,
    regression_metrics,
    wilson_interval,
)


def test_wilson_interval_8_of_10():
    # p = 0.8, n = 10, z = 1.95996, z^2 = 3.84146
    # centre = (0.8 + z^2/20) / (1 + z^2/10) = 0.992073 / 1.384146 = 0.716740
    # half = z * sqrt(0.8*0.2/10 + z^2/400) / 1.384146 = 1.95996 * 0.160012 / 1.384146 = 0.226579
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_extremes_stay_inside_unit_range():
    # 0/5: low = 0, high = z^2/n / (1 + z^2/n) = 0.768292 / 1.768292 = 0.434482
    low, high = wilson_interval(0, 5)
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx(0.4345, abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_classification_metrics_hand_example():
    # classes a, b, c (c never appears)
    # true: a a a b b     pred: a a b b a
    # confusion rows=true: a -> [2, 1, 0], b -> [1, 1, 0], c -> [0, 0, 0]
    # recall a = 2/3, recall b = 1/2; precision a = 2/3, precision b = 1/2
    # f1 a = 2/3, f1 b = 1/2; accuracy = 3/5
    # f1_weighted = (3*2/3 + 2*1/2) / 5 = 3/5; f1_macro over present classes = (2/3 + 1/2) / 2 = 7/12
    # uar = (2/3 + 1/2) / 2 = 7/12; war = accuracy = 3/5
    metrics = classification_metrics(np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 1, 0]), ["a", "b", "c"])
    assert metrics["num_items"] == 5
    assert metrics["accuracy"] == pytest.approx(0.6)
    assert metrics["war"] == pytest.approx(0.6)
    assert metrics["f1_weighted"] == pytest.approx(0.6)
    assert metrics["f1_macro"] == pytest.approx(7 / 12)
    assert metrics["uar"] == pytest.approx(7 / 12)
    assert metrics["confusion"] == [[2, 1, 0], [1, 1, 0], [0, 0, 0]]
    assert metrics["per_class"]["a"] == pytest.approx(
        {"recall": 2 / 3, "precision": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert metrics["per_class"]["b"]["recall"] == pytest.approx(0.5)
    assert metrics["per_class"]["c"] == {"recall": None, "precision": None, "f1": None, "support": 0}
    # Wilson 3/5: centre = (0.6 + 0.384146) / 1.768292 = 0.556549;
    # half = 1.95996 * sqrt(0.048 + 0.038415) / 1.768292 = 0.325819 -> (0.2307, 0.8824)
    assert metrics["accuracy_ci95"] == pytest.approx([0.2307, 0.8824], abs=1e-4)
    assert metrics["class_names"] == ["a", "b", "c"]


def test_uar_differs_from_war_on_imbalanced_data():
    # true: 8 x a, 2 x b; pred: all a. war = 8/10, uar = (1 + 0) / 2 = 0.5
    metrics = classification_metrics(np.array([0] * 8 + [1] * 2), np.zeros(10, dtype=int), ["a", "b"])
    assert metrics["war"] == pytest.approx(0.8)
    assert metrics["uar"] == pytest.approx(0.5)
    assert metrics["per_class"]["b"] == {"recall": 0.0, "precision": None, "f1": 0.0, "support": 2}


def test_classification_metrics_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="y_pred"):
        classification_metrics(np.array([0, 1]), np.array([0, 3]), ["a", "b"])


def test_ccc_identical_and_shifted():
    y = np.array([1.0, 2.0, 3.0])
    assert concordance_correlation(y, y) == pytest.approx(1.0)
    # shifted by 1: var_t = var_p = cov = 2/3, mean gap 1 -> 2*(2/3) / (2/3 + 2/3 + 1) = 4/7
    assert concordance_correlation(y, y + 1) == pytest.approx(4 / 7)
    # negated: cov = -2/3, means 2 and -2 -> -4/3 / (4/3 + 16) = -1/13
    assert concordance_correlation(y, -y) == pytest.approx(-1 / 13)


def test_regression_metrics_and_mer_score():
    # errors 1, -1, 2 -> mse = (1 + 1 + 4) / 3 = 2, mae = 4/3
    metrics = regression_metrics(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.0, 4.0]))
    assert metrics["mse"] == pytest.approx(2.0)
    assert metrics["mae"] == pytest.approx(4 / 3)
    # 0.8 - 0.25 * 2 = 0.3
    assert mer_score(0.8, metrics["mse"]) == pytest.approx(0.3)
