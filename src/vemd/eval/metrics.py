"""Classification and regression metrics of the paper's evaluation (§9).

Classification follows the GER/IER conventions: accuracy with a 95 % Wilson
interval, weighted and macro F1, UAR (mean recall over the classes present in
the ground truth), WAR (support-weighted recall, equal to accuracy), per-class
recall/precision/F1 and the confusion matrix. Regression (valence/arousal) uses
Lin's concordance correlation coefficient, MSE and MAE; MER2023 ranks systems by
``F1_weighted - 0.25 * MSE``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    recall_score,
)


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) of the proportion ``successes / total``."""
    if total <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    ci = binomtest(int(successes), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """All classification metrics of §9 for label indices ``y_true``, ``y_pred`` of shape (N,).

    ``f1_macro`` averages over the classes present in either array, ``uar`` over those
    present in ``y_true``. Classes absent from both still get a confusion row/column and
    a per-class entry; undefined per-class values (recall of a class with no support, precision
    of a class never predicted) are ``None``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    num_classes = len(class_names)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(
            f"y_true and y_pred must be non-empty (N,) arrays, got {y_true.shape} and {y_pred.shape}"
        )
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} holds a label outside [0, {num_classes})")
    labels = list(range(num_classes))
    correct = int((y_true == y_pred).sum())
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=np.nan
    )
    return {
        "class_names": list(class_names),
        "num_items": int(y_true.size),
        "accuracy": correct / y_true.size,
        "accuracy_ci95": list(wilson_interval(correct, y_true.size)),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "uar": float(
            recall_score(y_true, y_pred, labels=np.unique(y_true), average="macro", zero_division=0)
        ),
        "war": float(recall_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "per_class": {
            name: {
                "recall": _finite_or_none(recall[i]),
                "precision": _finite_or_none(precision[i]),
                "f1": _finite_or_none(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def concordance_correlation(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Lin's CCC ``2 cov / (var_t + var_p + (mean_t - mean_p)^2)`` with population moments.

    Two equal constant vectors are perfectly concordant (1.0).
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    mean_t, mean_p = y_true.mean(), y_pred.mean()
    covariance = np.mean((y_true - mean_t) * (y_pred - mean_p))
    denominator = y_true.var() + y_pred.var() + (mean_t - mean_p) ** 2
    return 1.0 if denominator == 0 else float(2 * covariance / denominator)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """CCC, MSE and MAE of continuous predictions (e.g. valence), arrays of shape (N,)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(
            f"y_true and y_pred must be non-empty (N,) arrays, got {y_true.shape} and {y_pred.shape}"
        )
    return {
        "ccc": concordance_correlation(y_true, y_pred),
        "mse": float(mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }


def mer_score(f1_weighted: float, mse: float) -> float:
    """MER2023 multi-task score: weighted F1 of the emotion minus a quarter of the valence MSE."""
    return float(f1_weighted) - 0.25 * float(mse)
