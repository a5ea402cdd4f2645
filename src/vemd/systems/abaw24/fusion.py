"""Decision-level fusion of valence/arousal predictions (§3.3, Table 5).

Both schemes are fit on the development split's predictions ``preds`` (M models, N frames, D
dimensions, e.g. valence and arousal) and targets (N, D), then applied to the test predictions.

* Dirichlet-based random weighted fusion (DWF): for each dimension a pool of weight vectors over
  the models is drawn from a Dirichlet distribution, plus the uniform average, and the one whose
  fused prediction scores best on the dev split (CCC, Eq. 2) is kept. Choosing per dimension is
  choosing the best of all fusion matrices whose columns come from the pools, so on the dev split
  it scores at least as well as picking one matrix from a pool of sampled matrices.
* Random-forest fusion: per dimension a scikit-learn random forest regresses the target from the
  concatenated predictions of all models (M * D features); its number of trees is chosen by the
  CCC of its out-of-bag predictions.

Frames whose target is NaN or −5 (AffWild2's mark of an unlabelled frame) are left out of the
fit, per dimension.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from vemd.eval.metrics import concordance_correlation
from vemd.models.regression import INVALID_TARGET

Metric = Callable[[np.ndarray, np.ndarray], float]


def _check_preds(
    preds: np.ndarray, targets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim != 3 or 0 in preds.shape:
        raise ValueError(f"fusion needs predictions of shape (M models, N, D), got {preds.shape}")
    if targets is None:
        return preds, None
    targets = np.asarray(targets, dtype=np.float64)
    if targets.shape != preds.shape[1:]:
        raise ValueError(f"fusion needs targets of shape {preds.shape[1:]} (N, D), got {targets.shape}")
    return preds, targets


def _labelled(targets: np.ndarray) -> np.ndarray:
    """(N, D) True where the target is usable: not NaN and not −5."""
    return ~np.isnan(targets) & (targets != INVALID_TARGET)


def apply_weights(preds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum over the models: preds (M, N, D), weights (M, D) → (N, D)."""
    preds = _check_preds(preds)[0]
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (preds.shape[0], preds.shape[2]):
        raise ValueError(
            f"fusion weights must be (M, D) = {(preds.shape[0], preds.shape[2])}, got {weights.shape}"
        )
    return np.einsum("mnd,md->nd", preds, weights)


@dataclass(frozen=True)
class DirichletFusion:
    """The weights kept by :func:`dirichlet_fusion_search`."""

    weights: np.ndarray  # (M, D): column d sums to 1 and weighs the models for dimension d
    dev_scores: np.ndarray  # (D,): the metric of the fused dev predictions per dimension


def dirichlet_fusion_search(
    preds: np.ndarray,
    targets: np.ndarray,
    n_samples: int = 1000,
    alpha: float | Sequence[float] = 1.0,
    seed: int = 0,
    metric: Metric = concordance_correlation,
) -> DirichletFusion:
    """Best weights per dimension among the uniform average and n_samples Dirichlet(alpha) draws.

    preds (M, N, D) and targets (N, D) from the dev split; ``metric(y_true, y_pred)`` is higher
    for better (NaN counts as worst). Ties keep the earlier candidate, the uniform average first.
    """
    preds, targets = _check_preds(preds, targets)
    num_models, _, num_dims = preds.shape
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    concentration = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (num_models,))
    if not (concentration > 0).all():
        raise ValueError(f"Dirichlet alpha must be > 0, got {alpha}")
    rng = np.random.default_rng(seed)
    draws = rng.dirichlet(concentration, size=(n_samples, num_dims))  # (S, D, M)
    uniform = np.full((1, num_dims, num_models), 1.0 / num_models)
    candidates = np.concatenate([uniform, draws])  # (S + 1, D, M)
    labelled = _labelled(targets)
    weights = np.empty((num_models, num_dims))
    dev_scores = np.empty(num_dims)
    for d in range(num_dims):
        rows = labelled[:, d]
        if not rows.any():
            raise ValueError(f"fusion dimension {d} has no labelled target on the dev split")
        models, truth = preds[:, rows, d], targets[rows, d]  # (M, N_d), (N_d,)
        scores = np.array([metric(truth, w @ models) for w in candidates[:, d]])
        best = int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))
        weights[:, d], dev_scores[d] = candidates[best, d], scores[best]
    return DirichletFusion(weights=weights, dev_scores=dev_scores)


class RandomForestFusion:
    """Per-dimension random forests over the stacked model predictions, trees chosen out of bag.

    Args:
        n_estimators: candidate numbers of trees; each dimension keeps the one whose out-of-bag
            predictions have the best CCC (ties keep the smaller forest). With a few dozen trees
            or fewer, some frames are never out of bag and scikit-learn warns.
        min_samples_leaf: scikit-learn's leaf size (larger is smoother, less fit to the dev split).
        seed: random state of every forest.
        n_jobs: scikit-learn's parallel jobs.
    """

    def __init__(
        self,
        *,
        n_estimators: Sequence[int] = (100, 200, 400),
        min_samples_leaf: int = 1,
        seed: int = 0,
        n_jobs: int | None = None,
    ) -> None:
        if not n_estimators or min(n_estimators) < 1:
            raise ValueError(f"n_estimators must be positive tree counts, got {n_estimators}")
        self.n_estimators = tuple(sorted(int(n) for n in n_estimators))
        self.min_samples_leaf, self.seed, self.n_jobs = min_samples_leaf, seed, n_jobs
        self.forests: list[RandomForestRegressor] = []
        self.oob_scores: np.ndarray | None = None  # (D, len(n_estimators)) after fit

    @staticmethod
    def features(preds: np.ndarray) -> np.ndarray:
        """preds (M, N, D) → the concatenated predictions of all models (N, M * D)."""
        return preds.transpose(1, 0, 2).reshape(preds.shape[1], -1)

    def fit(self, preds: np.ndarray, targets: np.ndarray) -> RandomForestFusion:
        """Fit one forest per dimension on the dev predictions (M, N, D) and targets (N, D)."""
        preds, targets = _check_preds(preds, targets)
        x, labelled = self.features(preds), _labelled(targets)
        self.forests, scores = [], []
        for d in range(targets.shape[1]):
            rows = labelled[:, d]
            if rows.sum() < 2:
                raise ValueError(f"random-forest fusion needs >= 2 labelled targets in dimension {d}")
            best, best_key, row_scores = None, -np.inf, []
            for n in self.n_estimators:
                forest = RandomForestRegressor(
                    n_estimators=n,
                    min_samples_leaf=self.min_samples_leaf,
                    oob_score=True,
                    random_state=self.seed,
                    n_jobs=self.n_jobs,
                ).fit(x[rows], targets[rows, d])
                score = concordance_correlation(targets[rows, d], forest.oob_prediction_)
                row_scores.append(score)
                key = -np.inf if np.isnan(score) else score
                if best is None or key > best_key:
                    best, best_key = forest, key
            self.forests.append(best)
            scores.append(row_scores)
        self.oob_scores = np.array(scores)
        return self

    def predict(self, preds: np.ndarray) -> np.ndarray:
        """Fused predictions (N, D) from the models' predictions (M, N, D)."""
        if not self.forests:
            raise RuntimeError("RandomForestFusion.predict before fit: call fit(preds, targets) first")
        preds = _check_preds(preds)[0]
        x = self.features(preds)
        expected = self.forests[0].n_features_in_
        if x.shape[1] != expected:
            raise ValueError(
                f"random-forest fusion was fit on M * D = {expected} predictions, got {x.shape[1]}"
            )
        return np.stack([forest.predict(x) for forest in self.forests], axis=1)

    @property
    def chosen_n_estimators(self) -> list[int]:
        """The number of trees kept per dimension."""
        return [forest.n_estimators for forest in self.forests]
