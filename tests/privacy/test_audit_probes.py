"""The audit's probes know the answer: chance for random vectors, everything for separable ones."""

import numpy as np
import pytest

from vemd.privacy.probes import (
    balanced_pairs,
    cosine_to_prototype,
    leakage_ratio,
    presence_logreg,
    presence_prototype,
    reidentify,
)


def _labels(k: int, per: int) -> np.ndarray:
    return np.repeat([f"p{i:03d}" for i in range(k)], per)


def test_random_vectors_score_near_chance():
    k, per = 5, 40
    labels = _labels(k, per)
    vectors = np.random.default_rng(0).normal(size=(k * per, 32))
    result = reidentify(vectors, labels)
    for probe in ("knn", "logreg"):
        # chance 0.2 over 200 items: the 95 % interval of the accuracy holds it
        low, high = result[probe]["ci95"]
        assert low <= 0.2 <= high, (probe, result[probe])
        assert result[probe]["num_items"] == k * per


def test_separable_identities_are_reidentified():
    k, per = 6, 5
    labels = _labels(k, per)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(k, 16)) * 5
    vectors = np.repeat(centres, per, axis=0) + rng.normal(size=(k * per, 16)) * 0.1
    result = reidentify(vectors, labels)
    assert result["knn"]["accuracy"] == 1.0
    assert result["logreg"]["accuracy"] == 1.0


def test_items_without_a_vector_count_as_errors():
    k, per = 3, 4
    labels = _labels(k, per)
    vectors = np.repeat(np.eye(k), per, axis=0) + 0.01 * np.random.default_rng(2).normal(size=(k * per, k))
    vectors[::2] = np.nan  # half the items: no face found
    result = reidentify(vectors, labels)
    assert result["knn"]["accuracy"] == pytest.approx(0.5)


def test_leakage_ratio():
    assert leakage_ratio(0.55, 0.1, 1.0) == pytest.approx(0.5)
    assert leakage_ratio(0.1, 0.1, 0.9) == 0.0
    assert leakage_ratio(0.5, 0.1, 0.1) is None  # a ceiling at chance defines no ratio
    assert leakage_ratio(0.5, 0.1, None) is None


def _scenes(informative: bool, n: int = 120, k: int = 6, seed: int = 3):
    rng = np.random.default_rng(seed)
    names = [f"p{i:03d}" for i in range(k)]
    members, rows = [], []
    signatures = rng.normal(size=(k, 24))
    for _ in range(n):
        present = rng.choice(k, size=int(rng.integers(2, 4)), replace=False)
        members.append(frozenset(names[i] for i in present))
        rows.append(signatures[present].sum(0) if informative else rng.normal(size=24))
    return np.array(rows) + 0.05 * rng.normal(size=(n, 24)), members, names, signatures


@pytest.mark.parametrize("informative", [False, True])
def test_presence_auc(informative):
    scenes, members, names, signatures = _scenes(informative)
    pairs = balanced_pairs(members, names)
    assert pairs and all(t.sum() * 2 == len(t) for _, t in pairs.values())  # balanced
    lg = presence_logreg(scenes, pairs)
    proto = presence_prototype(
        lambda n, index: cosine_to_prototype(scenes[index], signatures[names.index(n)]), pairs
    )
    if informative:
        assert lg["auc"] > 0.9 and proto["auc"] > 0.9
    else:
        assert abs(lg["auc"] - 0.5) < 0.12 and abs(proto["auc"] - 0.5) < 0.12
    assert lg["num_identities"] == len(names)


def test_presence_pairs_are_matched_on_group_size():
    """A representation that only counts people knows nobody: matched pairs keep it at chance."""
    rng = np.random.default_rng(4)
    names = [f"p{i:03d}" for i in range(8)]
    members = [frozenset(rng.choice(names, size=int(rng.integers(1, 7)), replace=False)) for _ in range(300)]
    pairs = balanced_pairs(members, names)
    for index, target in pairs.values():
        sizes = np.array([len(members[i]) for i in index])
        assert sorted(sizes[target == 1]) == sorted(sizes[target == 0])
    counts = np.array([[len(m)] for m in members], float) + 0.01 * rng.normal(size=(300, 1))
    assert abs(presence_logreg(counts, pairs)["auc"] - 0.5) < 0.1
    # the confound the matching removes: with absent scenes drawn regardless of size, counting wins
    draw = np.random.default_rng(0)
    unmatched = {}
    for name in names:
        present = [i for i, m in enumerate(members) if name in m]
        absent = [i for i, m in enumerate(members) if name not in m]
        n = min(len(present), len(absent))
        index = np.concatenate(
            [draw.choice(present, n, replace=False), draw.choice(absent, n, replace=False)]
        )
        unmatched[name] = (index, np.repeat([1, 0], n))
    assert presence_logreg(counts, unmatched)["auc"] > 0.65
