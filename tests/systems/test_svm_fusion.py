import numpy as np
import pytest

from vemd.systems.emotiw20.svm_fusion import SVMFusion, out_of_fold_probabilities


def _branches(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Branch A is confidently right on the first half and hesitantly wrong on the second; B the reverse."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3

    def scores(peak_class: np.ndarray, peak: float) -> np.ndarray:
        p = np.full((n, 3), (1 - peak) / 2)
        p[np.arange(n), peak_class] = peak
        p += rng.normal(scale=0.03, size=p.shape)
        return p / p.sum(axis=1, keepdims=True)

    first = np.arange(n) < n // 2
    wrong = (y + 1) % 3
    a = np.where(first[:, None], scores(y, 0.8), scores(wrong, 0.5))
    b = np.where(first[:, None], scores(wrong, 0.5), scores(y, 0.8))
    return [a, b], y


def test_svm_on_both_branches_beats_each():
    train, y_train = _branches(120, seed=0)
    test, y_test = _branches(60, seed=1)
    branch_accuracy = [np.mean(p.argmax(axis=1) == y_test) for p in test]
    assert branch_accuracy == [0.5, 0.5]
    fusion = SVMFusion(C=1.0, kernel="rbf").fit(train, y_train)
    assert np.mean(fusion.predict(test) == y_test) > 0.95
    proba = fusion.predict_proba(test)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == y_test) > 0.95
    with pytest.raises(ValueError, match="fitted on branches of"):
        fusion.predict(test[:1])


def test_out_of_fold_never_predicts_an_item_with_a_model_that_saw_it():
    y = np.arange(23) % 3
    items = np.arange(23)  # the items are their own indices
    calls = []

    def fit_predict(x_train, y_train, x_test):
        calls.append((set(x_train.tolist()), x_test.copy()))
        assert np.array_equal(y_train, y[x_train])
        proba = np.zeros((len(x_test), 3))
        proba[:, 0] = x_test  # each row says which item it was asked for
        return proba

    probabilities = out_of_fold_probabilities(fit_predict, items, y, folds=5, seed=0)
    assert len(calls) == 5
    predicted = np.concatenate([test for _, test in calls])
    assert sorted(predicted.tolist()) == items.tolist()  # every item once
    assert all(not (seen & set(test.tolist())) for seen, test in calls)
    np.testing.assert_array_equal(probabilities[:, 0], items)


def test_out_of_fold_takes_sequences_and_checks_shapes():
    clips = [f"clip{i}.mp4" for i in range(10)]
    y = np.arange(10) % 2
    probabilities = out_of_fold_probabilities(
        lambda xt, yt, xs: np.full((len(xs), 2), 0.5), clips, y, folds=2
    )
    assert probabilities.shape == (10, 2)
    with pytest.raises(ValueError, match="fit_predict returned"):
        out_of_fold_probabilities(lambda xt, yt, xs: np.zeros((1, 2)), clips, y, folds=2)
