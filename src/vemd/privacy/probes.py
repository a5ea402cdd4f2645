"""Identity probes: re-identification of held-out items, and presence of an identity in a group.

Re-identification: items of K identities, each represented by one vector, and each in one
*group*: a recording (a session, a sequence, a video) or a set of near-duplicates
(:mod:`vemd.privacy.grouping`). Grouped k-fold cross-validation (k = 5 at most,
:func:`grouped_folds`) predicts every item's identity from a probe fitted on the other folds,
i.e. on *other recordings of the same identities*: frames of one recording are near-duplicates,
and with one on each side of a split any representation, raw pixels included, matches them.
Every identity needs two groups or more (:func:`check_groups`). Two probes:

* ``knn``: 1-nearest neighbour under cosine distance, the usual re-identification test;
* ``logreg``: multinomial logistic regression on standardised features (scikit-learn).

Top-1 accuracy over all items is reported with its 95 % Wilson interval, against chance = 1/K.
Items whose vector is missing (a face recogniser that found no face) count as errors.
A leakage ratio puts a representation between chance and a reference probed the same way:
``(accuracy − chance) / (reference − chance)`` (:func:`leakage`), against a real recogniser
(the ceiling: 0 is no identity beyond chance, 1 as much as the recogniser; it can exceed 1 when
the recogniser misses faces the model still sees) and against the input itself (a trivial
baseline, raw pixels or MFCCs: above 1, the representation carries more identity than its input).

Presence: group scenes, each with the set of identities among its people. For each identity
with present and absent scenes, the pairs are balanced (as many absent scenes, drawn at random,
as present ones, of the same number of people: :func:`balanced_pairs`) and scored two ways,
each reported as ROC AUC (0.5 = chance), the mean over identities:

* ``logreg``: a logistic regression on the pooled group representation, cross-validated over
  the identity's balanced scenes, grouped by recording like re-identification (an attacker who
  has labelled scenes of that person);
* ``prototype``: cosine similarity between the scene's representation and the identity's mean
  representation over its own items (an attacker with enrolment photos, no scene labels); for
  the face-recognition ceiling, the best match among the scene's faces.
"""

from __future__ import annotations

import numpy as np

from vemd.errors import DataError
from vemd.eval.metrics import wilson_interval

PROBES = ("knn", "logreg")
PRESENCE_PROBES = ("logreg", "prototype")
MAX_FOLDS = 5
MIN_GROUPS = 2  # recordings an identity needs: one held out, one to fit on


def grouped_folds(
    labels: np.ndarray, groups: np.ndarray, *, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs in which no group has items on both sides.

    Each label's groups, shuffled, are dealt to consecutive folds by one counter running over
    all labels (as StratifiedKFold deals items), so a label's g ≥ 2 groups fall in min(g, k)
    different folds and whichever fold is held out leaves one of them to fit on. scikit-learn's
    StratifiedGroupKFold balances proportions greedily and may put both recordings of a
    two-recording identity in one fold, leaving nothing to recognise them by. A group counts
    under the label of its first item. With one item per group this is stratified k-fold.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    rng = np.random.default_rng(seed)
    first = {g: labels[i] for i, g in reversed(list(enumerate(groups)))}  # group → its first item's label
    k = min(MAX_FOLDS, len(first))
    fold_of, dealt = {}, 0
    for label in sorted(set(first.values()), key=str):
        own = [g for g in sorted(first, key=str) if first[g] == label]
        for g in rng.permutation(len(own)):
            fold_of[own[g]] = dealt % k
            dealt += 1
    fold = np.array([fold_of[g] for g in groups])
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(k) if (fold == f).any()]


def check_groups(labels: np.ndarray, groups: np.ndarray) -> None:
    """One-line DataError unless every identity has :data:`MIN_GROUPS` groups (the audit leaves
    out such identities before probing, :func:`vemd.privacy.grouping.keep_identities`)."""
    few = sorted({str(label) for label in labels if len(set(groups[labels == label])) < MIN_GROUPS})
    if few:
        shown = ", ".join(few[:5]) + (f" and {len(few) - 5} more" if len(few) > 5 else "")
        raise DataError(
            f"identit{'y' if len(few) == 1 else 'ies'} {shown}: fewer than {MIN_GROUPS} recordings "
            "(items of one recording cannot be recognised from each other)"
        )


def _probe(kind: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "knn":
        return KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))


def reidentify(
    vectors: np.ndarray, labels: np.ndarray, groups: np.ndarray | None = None, *, seed: int = 0
) -> dict[str, dict]:
    """Grouped cross-validated top-1 re-identification of (N, D) ``vectors`` with identity
    ``labels`` (N,) and recording ``groups`` (N,; None: every item its own recording).

    Returns ``{probe: {"accuracy", "ci95", "correct", "num_items"}}``; rows with a NaN are errors.
    """
    vectors = np.asarray(vectors, np.float64)
    labels = np.asarray(labels)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    check_groups(labels, groups)
    valid = np.isfinite(vectors).all(axis=1)
    folds = grouped_folds(labels, groups, seed=seed)
    results = {}
    for kind in PROBES:
        correct = 0
        for train, test in folds:
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


def leakage(probe: dict, chance: float, reference: dict | None) -> tuple[float | None, list | None]:
    """A probe result's leakage ratio against a ``reference`` result of the same probe, and the
    ratio at both ends of the probe's Wilson interval (the reference's own interval is on its
    row); (None, None) unless the reference's interval lies above chance: a ratio to a reference
    within noise of chance (pixels of faces told apart by hue alone) would be noise blown up."""
    if reference is None or reference["ci95"][0] <= chance:
        return None, None
    top = reference["accuracy"]
    return leakage_ratio(probe["accuracy"], chance, top), [
        leakage_ratio(bound, chance, top) for bound in probe["ci95"]
    ]


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


def presence_logreg(
    scenes: np.ndarray, pairs: dict, groups: np.ndarray | None = None, *, seed: int = 0
) -> dict:
    """Mean over identities of the cross-validated logistic-regression ROC AUC of presence, the
    folds grouped by the scenes' recording ``groups`` (None: every scene its own recording)."""
    from sklearn.metrics import roc_auc_score

    groups = np.arange(len(scenes)) if groups is None else np.asarray(groups)
    aucs = {}
    for name, (index, target) in pairs.items():
        scores = _presence_scores(np.asarray(scenes[index], np.float64), target, groups[index], seed)
        if scores is not None:
            aucs[name] = float(roc_auc_score(target, scores))
    return _auc_summary(aucs, pairs)


def _presence_scores(x: np.ndarray, target: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray | None:
    """Held-out decision values of one identity's balanced scenes; None (the identity is left out)
    when some fold has no present or no absent scene to fit on, as when all its present scenes
    come from one recording."""
    scores = np.zeros(len(target))
    for train, test in grouped_folds(target, groups, seed=seed):
        if len(set(target[train])) < 2:
            return None
        scores[test] = _probe("logreg").fit(x[train], target[train]).decision_function(x[test])
    return scores


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
        "num_left_out": len(pairs) - len(values),
        "num_pairs": int(sum(len(pairs[name][1]) for name in aucs)),
    }


def cosine_to_prototype(vectors: np.ndarray, prototype: np.ndarray) -> np.ndarray:
    """(N,) cosine similarity of rows of ``vectors`` to one ``prototype`` vector."""
    v = np.asarray(vectors, np.float64)
    p = np.asarray(prototype, np.float64)
    return v @ p / np.maximum(np.linalg.norm(v, axis=1) * np.linalg.norm(p), 1e-12)
