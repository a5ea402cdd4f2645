"""Valence in `vemd test`'s reports: MER2023's score over the items with a target, CSV columns."""

import csv

import numpy as np
import pytest

from vemd.eval.evaluate import valence_metrics
from vemd.eval.report import read_predictions_csv, write_predictions_csv


def test_valence_metrics_skip_items_without_a_target():
    y_true = np.array([0.5, np.nan, -1.0, 2.0])
    y_pred = np.array([1.0, 9.0, -1.0, 1.0])  # the 9.0 has no target and must not count
    metrics = valence_metrics(y_true, y_pred, f1_weighted=0.6)
    mse = (0.25 + 0 + 1) / 3
    assert metrics["num_valence_items"] == 3
    assert metrics["valence_mse"] == pytest.approx(mse)
    assert metrics["valence_mae"] == pytest.approx(1.5 / 3)
    assert metrics["mer_score"] == pytest.approx(0.6 - 0.25 * mse)
    assert -1 <= metrics["valence_ccc"] <= 1
    assert valence_metrics(np.full(2, np.nan), np.zeros(2), f1_weighted=0.6) == {}


def test_predictions_with_valence_round_trip(tmp_path):
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    path = write_predictions_csv(
        tmp_path / "predictions.csv",
        ["a", "b"],
        [1, 0],
        [1, 0],
        probs,
        ["neg", "pos"],
        valence=(np.array([0.25, -1.5]), np.array([0.5, np.nan])),
    )
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0])[-2:] == ["pred_valence", "true_valence"]
    assert [(r["pred_valence"], r["true_valence"]) for r in rows] == [("0.25", "0.5"), ("-1.5", "")]
    ids, _, _, read_probs, classes = read_predictions_csv(path)  # vemd compare reads it as before
    assert ids == ["a", "b"] and classes == ["neg", "pos"]
    np.testing.assert_array_equal(read_probs, probs)
