import numpy as np
import pytest

from vemd.eval.metrics import concordance_correlation
from vemd.systems.abaw24.fusion import RandomForestFusion, apply_weights, dirichlet_fusion_search

T = np.array([1.0, 2.0, 3.0, 4.0])
E = np.array([1.0, -1.0, 1.0, -1.0])


def test_search_finds_the_informative_model():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(400, 2))
    preds = np.stack(
        [target + 0.3 * rng.normal(size=(400, 2)), rng.normal(size=(400, 2)), rng.normal(size=(400, 2))]
    )
    fusion = dirichlet_fusion_search(preds, target, n_samples=300)
    assert fusion.weights.shape == (3, 2) and (fusion.weights[0] > 0.8).all()
    np.testing.assert_allclose(fusion.weights.sum(0), 1.0)


def test_hand_example_weights_beat_each_model():
    # dimension 0: model a = t + e = 2 1 4 3, model b = t - 2e = -1 4 1 6 (t = 1 2 3 4, e = 1 -1 1 -1)
    # CCC(a): means 2.5, var_t = 1.25, var_a = 1.25, cov = 0.75 → 1.5 / 2.5 = 0.6
    # CCC(b): var_b = (12.25 + 2.25 + 2.25 + 12.25) / 4 = 7.25, cov = 2.25 → 4.5 / 8.5 = 0.529
    # 2/3 a + 1/3 b = t + (2/3 - 2/3) e = t → CCC 1; dimension 1 swaps the models → (1/3, 2/3)
    a, b = T + E, T - 2 * E
    preds = np.stack([np.stack([a, b], 1), np.stack([b, a], 1)])  # (2 models, 4, 2)
    target = np.stack([T, T], 1)
    assert concordance_correlation(T, a) == pytest.approx(0.6)
    assert concordance_correlation(T, b) == pytest.approx(4.5 / 8.5)
    fusion = dirichlet_fusion_search(preds, target, n_samples=2000, seed=1)
    np.testing.assert_allclose(fusion.weights, [[2 / 3, 1 / 3], [1 / 3, 2 / 3]], atol=0.03)
    assert (fusion.dev_scores > 0.99).all()
    fused = apply_weights(preds, fusion.weights)
    for d in range(2):
        assert concordance_correlation(T, fused[:, d]) == pytest.approx(fusion.dev_scores[d])
        assert fusion.dev_scores[d] > max(concordance_correlation(T, preds[m, :, d]) for m in range(2))


def test_uniform_average_is_a_candidate():
    # a = t + e, b = t - e: their mean is t exactly (CCC 1), no random draw can do better, ties keep uniform
    preds = np.stack([(T + E)[:, None], (T - E)[:, None]])
    assert dirichlet_fusion_search(preds, T[:, None], n_samples=50).weights[:, 0].tolist() == [0.5, 0.5]
    assert dirichlet_fusion_search(preds * 3, T[:, None], n_samples=0).weights[:, 0].tolist() == [0.5, 0.5]


def test_search_leaves_out_unlabelled_frames_and_is_seeded():
    rng = np.random.default_rng(4)
    target = rng.normal(size=(60, 2))
    preds = np.stack([target + rng.normal(size=(60, 2)), target + 2 * rng.normal(size=(60, 2))])
    marked = target.copy()
    marked[:10] = -5.0
    marked[10, 1] = np.nan
    keep = np.ones(60, dtype=bool)
    keep[:10] = False
    fusion = dirichlet_fusion_search(preds, marked, n_samples=100, seed=3)
    # dimension 0: the 10 marked frames left out; compare with the search on the labelled rows only
    reference = dirichlet_fusion_search(preds[:, keep], target[keep], n_samples=100, seed=3)
    np.testing.assert_array_equal(fusion.weights[:, 0], reference.weights[:, 0])
    assert not np.allclose(
        dirichlet_fusion_search(preds, target, n_samples=100, seed=3).dev_scores, fusion.dev_scores
    )
    again = dirichlet_fusion_search(preds, marked, n_samples=100, seed=3)
    np.testing.assert_array_equal(again.weights, fusion.weights)


def test_apply_weights_hand_example_and_shape_errors():
    preds = np.array([[[1.0, 10.0]], [[3.0, 20.0]]])  # (2 models, 1 frame, 2 dims)
    # dim 0: 0.25 * 1 + 0.75 * 3 = 2.5; dim 1: 1.0 * 10 + 0 * 20 = 10
    assert apply_weights(preds, np.array([[0.25, 1.0], [0.75, 0.0]])).tolist() == [[2.5, 10.0]]
    with pytest.raises(ValueError, match=r"\(M, D\)"):
        apply_weights(preds, np.ones((2, 3)))
    with pytest.raises(ValueError, match="targets of shape"):
        dirichlet_fusion_search(preds, np.zeros((2, 2)))


def test_random_forest_fusion_smoke():
    rng = np.random.default_rng(5)
    target = rng.uniform(-1, 1, size=(200, 2))
    preds = np.stack([target + 0.1 * rng.normal(size=(200, 2)), rng.normal(size=(200, 2))])
    fusion = RandomForestFusion(n_estimators=(30, 60), seed=0).fit(preds, target)
    fused = fusion.predict(preds)
    assert fused.shape == (200, 2) and fusion.oob_scores.shape == (2, 2)
    assert set(fusion.chosen_n_estimators) <= {30, 60}
    assert all(concordance_correlation(target[:, d], fused[:, d]) > 0.9 for d in range(2))
    np.testing.assert_array_equal(
        RandomForestFusion(n_estimators=(30, 60), seed=0).fit(preds, target).predict(preds), fused
    )
    with pytest.raises(RuntimeError, match="before fit"):
        RandomForestFusion().predict(preds)
    with pytest.raises(ValueError, match="M \\* D = 4"):
        fusion.predict(preds[:1])
