import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from vemd.systems.abaw24.kelm import KELM, kernel_matrix, one_hot

X3 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
T3 = np.array([1.0, 2.0, 3.0])


def test_linear_kernel_three_points_by_hand():
    # K = X X^T = [[1, 0, 1], [0, 1, 1], [1, 1, 2]]; C = 2 so I/C + K = [[1.5, 0, 1], [0, 1.5, 1], [1, 1, 2.5]]
    # rows 1, 2: b1 = (1 - b3) / 1.5, b2 = (2 - b3) / 1.5; row 3: (3 - 2 b3) / 1.5 + 2.5 b3 = 3
    # → 3 - 2 b3 + 3.75 b3 = 4.5 → b3 = 6/7, b1 = 2/21, b2 = 16/21
    # (I * C + K, or C = 1, would give other values)
    # x = (2, 1): K(x, X) = [2, 1, 3] → 2 * 2/21 + 16/21 + 3 * 18/21 = 74/21
    model = KELM(C=2.0, kernel="linear").fit(X3, T3)
    np.testing.assert_allclose(model.beta[:, 0], [2 / 21, 16 / 21, 6 / 7], rtol=1e-12)
    assert model.predict(np.array([[2.0, 1.0]])) == pytest.approx([74 / 21], rel=1e-12)
    # on the training points K beta = T - beta / C
    np.testing.assert_allclose(model.predict(X3), T3 - model.beta[:, 0] / 2, rtol=1e-12)


def test_rbf_interpolates_training_targets_as_c_grows():
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    np.testing.assert_allclose(KELM(C=1e10, kernel="rbf").fit(x, t).predict(x), t, atol=1e-6)
    assert np.abs(KELM(C=0.1).fit(x, t).predict(x) - t).max() > 0.1


def test_fit_matches_direct_solve_with_scale_gamma():
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(20, 4)) * 3, rng.normal(size=(20, 2))
    model = KELM(C=5.0).fit(x, t)
    gamma = 1.0 / (4 * x.var())
    assert model.gamma_ == pytest.approx(gamma)
    kernel = np.array([[np.exp(-gamma * np.sum((a - b) ** 2)) for b in x] for a in x])
    beta = np.linalg.solve(np.eye(20) / 5.0 + kernel, t)
    np.testing.assert_allclose(model.beta, beta, rtol=1e-9, atol=1e-12)
    test = rng.normal(size=(5, 4))
    reference = np.array([[np.exp(-gamma * np.sum((a - b) ** 2)) for b in x] for a in test]) @ beta
    np.testing.assert_allclose(model.predict(test), reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(kernel_matrix(x, x, "rbf", gamma), kernel, atol=1e-12)
    assert KELM(C=5.0, gamma=0.7).fit(x, t).gamma_ == 0.7


def test_classification_scores_and_argmax():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    labels = np.repeat([0, 1, 2], 10)
    x = centres[labels] + rng.normal(scale=0.5, size=(30, 2))
    model = KELM(C=10.0).fit(x, one_hot(labels))
    assert model.predict(centres).shape == (3, 3)
    assert model.predict_class(centres).tolist() == [0, 1, 2]
    assert one_hot(np.array([2, 0]), 4).tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]


def test_state_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(3)
    x, t, test = rng.normal(size=(8, 3)), rng.normal(size=8), rng.normal(size=(4, 3))
    for kernel in ("rbf", "linear"):
        model = KELM(C=3.0, kernel=kernel).fit(x, t)
        state = model.state_dict()
        assert all(isinstance(v, np.ndarray) and v.dtype.kind in "fi" for v in state.values())
        np.savez(tmp_path / "kelm.npz", **state)
        with np.load(tmp_path / "kelm.npz", allow_pickle=False) as saved:
            from_npz = KELM.from_state(dict(saved))
        save_file(state, str(tmp_path / "kelm.safetensors"))
        from_safetensors = KELM.from_state(load_file(str(tmp_path / "kelm.safetensors")))
        for restored in (from_npz, from_safetensors):
            assert restored.kernel == kernel and restored.predict(test).shape == (4,)
            np.testing.assert_array_equal(restored.predict(test), model.predict(test))


def test_clear_errors():
    with pytest.raises(RuntimeError, match="before fit"):
        KELM().predict(X3)
    model = KELM(kernel="linear").fit(X3, T3)
    with pytest.raises(ValueError, match="fit on 2 features, got X with 3"):
        model.predict(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"T of shape \(3,\) or \(3, D\)"):
        KELM().fit(X3, np.ones(4))
    with pytest.raises(ValueError, match="unknown KELM kernel 'poly'"):
        KELM(kernel="poly")
    with pytest.raises(ValueError, match="C > 0"):
        KELM(C=0.0)
    with pytest.raises(ValueError, match="NaN"):
        KELM().fit(X3, np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="lacks beta"):
        KELM.from_state({k: v for k, v in model.state_dict().items() if k != "beta"})
