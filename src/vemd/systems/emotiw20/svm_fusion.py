"""Score-level fusion by an SVM over the branches' class probabilities (§II-D, §III-D).

The EmotiW 2020 audio-video system concatenates the softmax scores of its video and audio
branches, six values for three valence classes, and lets a multi-class SVM take the final
decision (§II-D); its C, kernel and kernel degree were chosen by grid search (§III-D):
:func:`search_svm` (scikit-learn's ``GridSearchCV``, stratified folds, accuracy) gives the
:class:`SVMChoice` an :class:`SVMFusion` is then fitted with.

A branch's probabilities on the clips it was trained on are more confident, and more often
right, than on unseen clips, so an SVM fitted on them would learn to trust each branch too much.
:func:`out_of_fold_probabilities` gives every training clip the probabilities of a branch model
that did not see it (k-fold: each fold is predicted by a model fitted on the other folds); the
SVM is fitted on those, and applied to the probabilities of the branches trained on the whole
training split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

# fit_predict(X_train, y_train, X_test) → class probabilities of X_test (n_test, C)
FitPredict = Callable[[Any, np.ndarray, Any], np.ndarray]


def _take(items: Any, index: np.ndarray) -> Any:
    """items[index] for arrays and tensors, a list for other sequences (e.g. clip paths)."""
    if hasattr(items, "shape"):
        return items[index]
    return [items[i] for i in index]


def out_of_fold_probabilities(
    fit_predict: FitPredict, X: Any, y: np.ndarray, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Class probabilities (N, C) of every item by a model fitted without it.

    ``X`` (N items: an array, or any sequence such as clip paths) is split into ``folds``
    stratified folds, shuffled with ``seed``; for each fold, ``fit_predict(X_rest, y_rest,
    X_fold)`` fits a fresh model on the other folds and returns the fold's probabilities.
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"out-of-fold probabilities need one label per item: {len(X)} items, y {y.shape}")
    if not 2 <= folds <= len(y):
        raise ValueError(f"folds must be between 2 and the number of items ({len(y)}), got {folds}")
    probabilities: np.ndarray | None = None
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y):
        fold = np.asarray(fit_predict(_take(X, train), y[train], _take(X, test)), dtype=np.float64)
        if probabilities is None:
            probabilities = np.full((len(y), fold.shape[-1]), np.nan)
        if fold.shape != (len(test), probabilities.shape[1]):
            raise ValueError(
                f"fit_predict returned {fold.shape} for {len(test)} items, "
                f"expected ({len(test)}, {probabilities.shape[1]})"
            )
        probabilities[test] = fold
    return probabilities


def _concatenate(prob_list: Sequence[np.ndarray], widths: tuple[int, ...] | None = None) -> np.ndarray:
    """Branch probabilities [(N, C_1), (N, C_2), …] → (N, C_1 + C_2 + …)."""
    if len(prob_list) == 0:
        raise ValueError("SVM fusion needs the probabilities of at least one branch")
    arrays = [np.asarray(p, dtype=np.float64) for p in prob_list]
    shapes = [a.shape for a in arrays]
    if any(a.ndim != 2 for a in arrays) or len({s[0] for s in shapes}) != 1:
        raise ValueError(f"SVM fusion needs (N, C) probabilities with one N for all branches, got {shapes}")
    if widths is not None and tuple(s[1] for s in shapes) != widths:
        raise ValueError(f"SVM fusion was fitted on branches of {widths} classes, got {shapes}")
    features = np.concatenate(arrays, axis=1)
    if not np.isfinite(features).all():
        raise ValueError("SVM fusion: branch probabilities hold NaN or infinite values")
    return features


@dataclass(frozen=True)
class SVMChoice:
    """The SVM's C, kernel and degree (used by the ``poly`` kernel only), and how they were chosen."""

    C: float
    kernel: str
    degree: int = 3
    cv_accuracy: float | None = None  # the grid search's best mean accuracy; None: set, not searched
    candidates: int = 1  # settings the search compared

    def describe(self) -> str:
        """``poly, degree 2, C=10`` (the degree only where the kernel uses it)."""
        degree = f", degree {self.degree}" if self.kernel == "poly" else ""
        return f"{self.kernel}{degree}, C={self.C:g}"


def svm_grid(C: Sequence[float], kernels: Sequence[str], degrees: Sequence[int]) -> list[dict]:
    """``GridSearchCV``'s parameter grid: every C with every kernel, each degree with ``poly`` only
    (the other kernels ignore it, so trying degrees with them would only repeat a setting)."""
    if not C or not kernels or not degrees:
        raise ValueError("an SVM grid needs at least one C, one kernel and one degree")
    return [
        {
            "C": [float(c) for c in C],
            "kernel": [k],
            **({"degree": [int(d) for d in degrees]} if k == "poly" else {}),
        }
        for k in kernels
    ]


def search_svm(
    prob_list: Sequence[np.ndarray], y: np.ndarray, grid: list[dict], *, folds: int = 5, seed: int = 0
) -> SVMChoice:
    """The setting of ``grid`` (:func:`svm_grid`) whose SVM is most accurate over ``folds``
    stratified folds (shuffled with ``seed``) of the concatenated branch probabilities
    ``prob_list`` [(N, C_b)] and labels ``y`` (N,); ties go to the first setting in grid order."""
    search = GridSearchCV(
        SVC(gamma="scale", random_state=seed),
        grid,
        scoring="accuracy",
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        refit=False,
    )
    search.fit(_concatenate(prob_list), np.asarray(y))
    best = search.best_params_
    return SVMChoice(
        C=float(best["C"]),
        kernel=str(best["kernel"]),
        degree=int(best.get("degree", 3)),
        cv_accuracy=float(search.best_score_),
        candidates=len(search.cv_results_["params"]),
    )


class SVMFusion:
    """A multi-class SVM (scikit-learn ``SVC``) on the concatenated branch probabilities.

    ``predict`` is the SVM's decision (one-vs-rest decision function); ``predict_proba`` maps
    that decision to probabilities with a sigmoid calibrated on ``calibration_folds``-fold
    cross-validated decisions of the training items (``CalibratedClassifierCV``), so its argmax
    may differ from ``predict`` on items near a boundary.
    """

    def __init__(
        self,
        C: float = 1.0,
        kernel: str = "rbf",
        *,
        degree: int = 3,
        gamma: str | float = "scale",
        calibration_folds: int = 5,
        seed: int = 0,
    ) -> None:
        self.svm = SVC(C=C, kernel=kernel, degree=degree, gamma=gamma, random_state=seed)
        self.calibrated = CalibratedClassifierCV(
            SVC(C=C, kernel=kernel, degree=degree, gamma=gamma, random_state=seed),
            method="sigmoid",
            cv=StratifiedKFold(n_splits=calibration_folds, shuffle=True, random_state=seed),
            ensemble=False,
        )
        self.widths: tuple[int, ...] | None = None

    def fit(self, prob_list: Sequence[np.ndarray], y: np.ndarray) -> SVMFusion:
        """prob_list: each branch's out-of-fold probabilities (N, C_b); y (N,) labels."""
        features = _concatenate(prob_list)
        self.widths = tuple(np.shape(p)[1] for p in prob_list)
        self.svm.fit(features, y)
        self.calibrated.fit(features, y)
        return self

    @property
    def classes_(self) -> np.ndarray:
        return self.svm.classes_

    def predict(self, prob_list: Sequence[np.ndarray]) -> np.ndarray:
        """Branch probabilities [(N, C_b)] → labels (N,)."""
        return self.svm.predict(_concatenate(prob_list, self._fitted_widths()))

    def predict_proba(self, prob_list: Sequence[np.ndarray]) -> np.ndarray:
        """Branch probabilities [(N, C_b)] → fused probabilities (N, K), columns ``classes_``."""
        return self.calibrated.predict_proba(_concatenate(prob_list, self._fitted_widths()))

    def _fitted_widths(self) -> tuple[int, ...]:
        if self.widths is None:
            raise RuntimeError("SVMFusion: call fit before predict")
        return self.widths
