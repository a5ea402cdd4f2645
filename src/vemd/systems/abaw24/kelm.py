"""Kernel Extreme Learning Machine (§3.2.2, Eq. 1), the regressor over the window functionals.

Training solves the regularised least squares problem between the kernel matrix K of the
training windows and their targets T in closed form, ``beta = (I/C + K)^-1 T``; a new window x
is predicted as ``K(x, D) beta`` with D the training windows. The same machine classifies when
T holds one-hot rows: its outputs are then per-class scores (not probabilities) and the class is
their argmax.

K is N × N in float64, so memory grows with the square of the number of training windows.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

KERNELS = ("rbf", "linear")


def kernel_matrix(a: np.ndarray, b: np.ndarray, kernel: str, gamma: float | None = None) -> np.ndarray:
    """Kernel between the rows of a (N, F) and b (M, F) → (N, M): ``a b^T`` or ``exp(-gamma |a - b|^2)``."""
    if kernel == "linear":
        return a @ b.T
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return np.exp(-gamma * np.maximum(squared, 0.0))


def scale_gamma(x: np.ndarray) -> float:
    """RBF width ``1 / (n_features * x.var())`` over all entries (scikit-learn's "scale"); 1 if x is constant."""
    variance = float(x.var())
    return 1.0 / (x.shape[1] * variance) if variance > 0 else 1.0


def one_hot(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Integer labels (N,) → one-hot targets (N, num_classes) in float64, for classification."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise ValueError(
            f"one_hot needs non-negative integer labels of shape (N,), got {labels.dtype} {labels.shape}"
        )
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"label {int(labels.max())} does not fit {num_classes} classes")
    return np.eye(num_classes)[labels]


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"KELM needs {name} of shape (N, F) with N >= 1, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"KELM {name} holds NaN or infinite values")
    return x


class KELM:
    """Kernel ELM with a closed-form fit (Eq. 1).

    Args:
        C: regularisation coefficient, > 0 (``inf`` drops the ridge: pure kernel interpolation).
        kernel: ``"rbf"`` or ``"linear"``.
        gamma: RBF width; None picks :func:`scale_gamma` of the training inputs at fit time.
    """

    def __init__(self, C: float = 1.0, kernel: str = "rbf", gamma: float | None = None) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"unknown KELM kernel {kernel!r}: expected one of {', '.join(KERNELS)}")
        if not C > 0:
            raise ValueError(f"KELM needs C > 0, got {C}")
        if gamma is not None and not gamma > 0:
            raise ValueError(f"KELM needs gamma > 0 or None, got {gamma}")
        self.C, self.kernel, self.gamma = float(C), kernel, gamma
        self.x_train: np.ndarray | None = None  # (N, F)
        self.beta: np.ndarray | None = None  # (N, D)
        self.gamma_: float | None = None  # the width in use after fit (None for the linear kernel)
        self.target_1d = False  # fit with T of shape (N,): predict returns (M,)

    def fit(self, x: np.ndarray, targets: np.ndarray) -> KELM:
        """Solve ``beta = (I/C + K) \\ T`` for inputs x (N, F) and targets T (N,) or (N, D)."""
        x = _as_matrix(x, "X")
        targets = np.asarray(targets, dtype=np.float64)
        self.target_1d = targets.ndim == 1
        targets = targets[:, None] if self.target_1d else targets
        if targets.ndim != 2 or targets.shape[0] != x.shape[0]:
            raise ValueError(
                f"KELM needs T of shape ({x.shape[0]},) or ({x.shape[0]}, D), got {targets.shape}"
            )
        if not np.isfinite(targets).all():
            raise ValueError("KELM T holds NaN or infinite values (leave invalid targets out before fit)")
        if self.kernel == "rbf":
            self.gamma_ = scale_gamma(x) if self.gamma is None else float(self.gamma)
        system = kernel_matrix(x, x, self.kernel, self.gamma_)
        system[np.diag_indices_from(system)] += 1.0 / self.C
        try:
            # I/C + K is symmetric positive definite for C < inf: a Cholesky solve, no explicit inverse.
            self.beta = scipy.linalg.solve(system, targets, assume_a="pos")
        except np.linalg.LinAlgError:
            # Numerically indefinite (very large C with near-duplicate windows): symmetric solve.
            self.beta = scipy.linalg.solve(system, targets, assume_a="sym")
        self.x_train = x
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``K(x, D) beta`` for inputs x (M, F) → (M, D), or (M,) when fit with T of shape (N,)."""
        if self.beta is None:
            raise RuntimeError("KELM.predict before fit: call fit(X, T) or build it with KELM.from_state")
        x = _as_matrix(x, "X")
        if x.shape[1] != self.x_train.shape[1]:
            raise ValueError(f"KELM was fit on {self.x_train.shape[1]} features, got X with {x.shape[1]}")
        out = kernel_matrix(x, self.x_train, self.kernel, self.gamma_) @ self.beta
        return out[:, 0] if self.target_1d else out

    def predict_class(self, x: np.ndarray) -> np.ndarray:
        """Class index (M,) of the highest score, for a machine fit on one-hot targets."""
        scores = self.predict(x)
        if scores.ndim != 2:
            raise ValueError("KELM.predict_class needs a machine fit on (N, num_classes) targets")
        return scores.argmax(1)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The fitted machine as numeric arrays only (for safetensors or np.savez, no pickle)."""
        if self.beta is None:
            raise RuntimeError("KELM.state_dict before fit: there is nothing to save")
        return {
            "x_train": self.x_train,
            "beta": self.beta,
            "C": np.array([self.C]),
            "kernel": np.array([KERNELS.index(self.kernel)], dtype=np.int64),
            "gamma": np.array([np.nan if self.gamma_ is None else self.gamma_]),
            "target_1d": np.array([int(self.target_1d)], dtype=np.int64),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> KELM:
        """A fitted machine from :meth:`state_dict`'s arrays."""
        missing = {"x_train", "beta", "C", "kernel", "gamma", "target_1d"} - set(state)
        if missing:
            raise ValueError(f"KELM state lacks {', '.join(sorted(missing))}")
        kernel_index = int(np.asarray(state["kernel"]).ravel()[0])
        if not 0 <= kernel_index < len(KERNELS):
            raise ValueError(f"KELM state names kernel {kernel_index}, expected 0..{len(KERNELS) - 1}")
        x_train = np.asarray(state["x_train"], dtype=np.float64)
        beta = np.asarray(state["beta"], dtype=np.float64)
        if x_train.ndim != 2 or beta.ndim != 2 or beta.shape[0] != x_train.shape[0]:
            raise ValueError(
                f"KELM state has x_train {x_train.shape} and beta {beta.shape}, expected (N, F), (N, D)"
            )
        gamma = float(np.asarray(state["gamma"]).ravel()[0])
        model = cls(float(np.asarray(state["C"]).ravel()[0]), KERNELS[kernel_index], None)
        model.gamma_ = None if np.isnan(gamma) else gamma
        model.gamma = model.gamma_
        model.x_train, model.beta = x_train, beta
        model.target_1d = bool(np.asarray(state["target_1d"]).ravel()[0])
        return model
