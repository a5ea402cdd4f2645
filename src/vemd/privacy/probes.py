"""Identity probes: re-identification of held-out items, and presence of an identity in a group.

Re-identification: items of K identities, each represented by one vector. Stratified k-fold
cross-validation (k = min(5, fewest items of an identity)) predicts every item's identity from
a probe fitted on the other folds, i.e. on *other items of the same identities*. Two probes:

* ``knn``: 1-nearest neighbour under cosine distance, the usual re-identification test;
* ``logreg``: multinomial logistic regression on standardised features (scikit-learn).

Top-1 accuracy over all items is reported with its 95 % Wilson interval, against chance = 1/K.
Items whose vector is missing (a face recogniser that found no face) count as errors.
The leakage ratio puts a representation between chance and a real recogniser:
``(accuracy − chance) / (ceiling − chance)``: 0 is no identity beyond chance, 1 as much as the
recogniser (it can exceed 1 when the recogniser misses faces the model still sees).

Presence: group scenes, each with the set of identities among its people. For each identity
with present and absent scenes, the pairs are balanced (as many absent scenes, drawn at random,
as present ones, of the same number of people: :func:`balanced_pairs`) and scored two ways,
each reported as ROC AUC (0.5 = chance), the mean over identities:

* ``logreg``: a logistic regression on the pooled group representation, cross-validated over
  the identity's balanced scenes (an attacker who has labelled scenes of that person);
* ``prototype``: cosine similarity between the scene's representation and the identity's mean
  representation over its own items (an attacker with enrolment photos, no scene labels); for
  the face-recognition ceiling, the best match among the scene's faces.
"""

from __future__ import annotations

import numpy as np

from vemd.eval.metrics import wilson_interval

PROBES = ("knn", "logreg")
PRESENCE_PROBES = ("logreg", "prototype")
MAX_FOLDS = 5


def _folds(labels: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    counts = np.unique(labels, return_counts=True)[1]
    k = int(min(MAX_FOLDS, counts.min()))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def _probe(kind: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "knn":
        return KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))


def reidentify(vectors: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> dict[str, dict]:
    """Cross-validated top-1 re-identification of (N, D) ``vectors`` with identity ``labels`` (N,).

    Returns ``{probe: {"accuracy", "ci95", "correct", "num_items"}}``; rows with a NaN are errors.
    """
    vectors = np.asarray(vectors, np.float64)
    labels = np.asarray(labels)
    valid = np.isfinite(vectors).all(axis=1)
    results = {}
    for kind in PROBES:
        correct = 0
        for train, test in _folds(labels, seed):
            train = train[valid[train]]
            test = test[valid[test]]
            if not len(test):
                continue
            if len(np.unique(labels[train])) < 2:  # nothing to tell apart: the single class
                predicted = np.full(len(test), labels[train][0] if len(train) else None)
            else:
                probe = _probe(kind).fit(_safe(vectors[train], kind), labels[train])
                predicted = probe.predict(_safe(vectors[test], kind))
            correct += int((predicted == labels[test]).sum())
        n = len(labels)
        results[kind] = {
            "accuracy": correct / n,
            "ci95": list(wilson_interval(correct, n)),
            "correct": correct,
            "num_items": n,
        }
    return results


def _safe(x: np.ndarray, kind: str) -> np.ndarray:
    """Cosine distance is undefined for a zero vector: nudge such rows off the origin."""
    if kind != "knn":
        return x
    zero = ~np.any(x, axis=1)
    if zero.any():
        x = x.copy()
        x[zero, 0] = 1e-12
    return x


def leakage_ratio(accuracy: float, chance: float, ceiling: float | None) -> float | None:
    """(accuracy − chance) / (ceiling − chance); None when the ceiling is not above chance."""
    if ceiling is None or ceiling - chance < 1e-6:
        return None
    return (accuracy - chance) / (ceiling - chance)


def balanced_pairs(
    members: list[frozenset[str]], identities: list[str], *, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per identity: (scene indices, present 0/1), as many absent scenes as present ones, matched
    on the number of people.

    Matching matters: a person is more often among the people of a larger group, so with
    unmatched pairs a representation that only counts people (the crowd's size is visible in
    any embedding) would score above chance without knowing anyone.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array([len(m) for m in members])
    pairs = {}
    for name in identities:
        has = np.array([name in m for m in members])
        chosen_present, chosen_absent = [], []
        for size in np.unique(sizes):
            present = np.flatnonzero(has & (sizes == size))
            absent = np.flatnonzero(~has & (sizes == size))
            n = min(len(present), len(absent))
            chosen_present += list(rng.choice(present, n, replace=False))
            chosen_absent += list(rng.choice(absent, n, replace=False))
        n = len(chosen_present)
        if n < 2:
            continue
        pairs[name] = (np.array(chosen_present + chosen_absent), np.repeat([1, 0], n))
    return pairs


def presence_logreg(scenes: np.ndarray, pairs: dict, *, seed: int = 0) -> dict:
    """Mean over identities of the cross-validated logistic-regression ROC AUC of presence."""
    from sklearn.metrics import roc_auc_score

    aucs = {}
    for name, (index, target) in pairs.items():
        x = np.asarray(scenes[index], np.float64)
        scores = np.zeros(len(index))
        for train, test in _folds(target, seed):
            probe = _probe("logreg").fit(x[train], target[train])
            scores[test] = probe.decision_function(x[test])
        aucs[name] = float(roc_auc_score(target, scores))
    return _auc_summary(aucs, pairs)


def presence_prototype(scores_of, pairs: dict) -> dict:
    """Mean over identities of the ROC AUC of ``scores_of(name, scene_indices)`` (a similarity)."""
    from sklearn.metrics import roc_auc_score

    aucs = {}
    for name, (index, target) in pairs.items():
        scores = np.nan_to_num(np.asarray(scores_of(name, index), np.float64), nan=-1.0)
        aucs[name] = float(roc_auc_score(target, scores))
    return _auc_summary(aucs, pairs)


def _auc_summary(aucs: dict[str, float], pairs: dict) -> dict:
    values = np.array(list(aucs.values()))
    return {
        "auc": float(values.mean()) if len(values) else None,
        "auc_std": float(values.std()) if len(values) else None,
        "num_identities": len(values),
        "num_pairs": int(sum(len(t) for _, t in pairs.values())),
    }


def cosine_to_prototype(vectors: np.ndarray, prototype: np.ndarray) -> np.ndarray:
    """(N,) cosine similarity of rows of ``vectors`` to one ``prototype`` vector."""
    v = np.asarray(vectors, np.float64)
    p = np.asarray(prototype, np.float64)
    return v @ p / np.maximum(np.linalg.norm(v, axis=1) * np.linalg.norm(p), 1e-12)
