"""Two-sided McNemar test between two systems evaluated on the same items (paper §8).

Only the discordant pairs matter: ``b`` items system A got right and B wrong,
``c`` items A got wrong and B right. With few discordant pairs (b + c < 25) the
exact binomial test of b ~ Bin(b + c, 1/2) is used; otherwise the chi-square
statistic with continuity correction ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy.stats import binomtest, chi2

from vemd.errors import DataError
from vemd.eval.metrics import wilson_interval
from vemd.eval.report import read_predictions_csv

EXACT_BELOW = 25
_NUM_EXAMPLES = 3


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar test on (N,) boolean arrays of per-item correctness of systems A and B."""
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape or correct_a.ndim != 1:
        raise ValueError(
            f"need two (N,) arrays of the same length, got {correct_a.shape} and {correct_b.shape}"
        )
    b = int((correct_a & ~correct_b).sum())
    c = int((~correct_a & correct_b).sum())
    if b + c == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0, "method": "exact"}
    if b + c < EXACT_BELOW:
        p_value = binomtest(b, b + c, 0.5).pvalue
        return {"b": b, "c": c, "statistic": float(min(b, c)), "p_value": float(p_value), "method": "exact"}
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return {
        "b": b,
        "c": c,
        "statistic": float(statistic),
        "p_value": float(chi2.sf(statistic, df=1)),
        "method": "chi2-corrected",
    }


def compare_predictions(path_a: str | Path, path_b: str | Path) -> dict:
    """Accuracies (with Wilson 95 % intervals) of two ``predictions.csv`` files and their McNemar test.

    Both files must cover the same labelled items with the same true labels;
    otherwise a :class:`DataError` names both files and a few offending item ids.
    """
    a, b = _labelled(path_a), _labelled(path_b)
    if not a.keys() & b.keys():
        raise DataError(
            f"{path_a} and {path_b} have no item in common (e.g. {sorted(a)[:_NUM_EXAMPLES]} and "
            f"{sorted(b)[:_NUM_EXAMPLES]}): predictions of two systems on the same test set?"
        )
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    if only_a or only_b:
        parts = [
            f"{len(ids)} only in {where} (e.g. {ids[:_NUM_EXAMPLES]})"
            for ids, where in ((only_a, "the first"), (only_b, "the second"))
            if ids
        ]
        raise DataError(f"{path_a} and {path_b} cover different items: {', '.join(parts)}")
    ids = sorted(a)
    disagree = [i for i in ids if a[i][0] != b[i][0]]
    if disagree:
        raise DataError(
            f"{path_a} and {path_b} disagree on the true label of {len(disagree)} items "
            f"(e.g. {disagree[:_NUM_EXAMPLES]})"
        )
    correct_a = np.array([a[i][0] == a[i][1] for i in ids])
    correct_b = np.array([b[i][0] == b[i][1] for i in ids])
    return {
        "num_items": len(ids),
        "system_a": _accuracy_summary(path_a, correct_a),
        "system_b": _accuracy_summary(path_b, correct_b),
        "mcnemar": mcnemar(correct_a, correct_b),
    }


def _labelled(path: str | Path) -> dict[str, tuple[str, str]]:
    """``{item_id: (true_name, pred_name)}`` of a predictions file whose items all have a true label."""
    try:
        item_ids, y_true, y_pred, _, _ = read_predictions_csv(path)
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: not a predictions CSV text file ({type(err).__name__})") from None
    if not item_ids:
        raise DataError(f"{path}: no predictions")
    unlabelled = [i for i, t in zip(item_ids, y_true) if not t]
    if unlabelled:
        raise DataError(
            f"{path}: {len(unlabelled)} items have no true label (e.g. {unlabelled[:_NUM_EXAMPLES]})"
        )
    return {i: (t, p) for i, t, p in zip(item_ids, y_true, y_pred)}


def _accuracy_summary(path: str | Path, correct: np.ndarray) -> dict:
    return {
        "path": str(path),
        "accuracy": float(correct.mean()),
        "accuracy_ci95": list(wilson_interval(int(correct.sum()), correct.size)),
    }
