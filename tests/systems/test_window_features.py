import warnings

import numpy as np
import pytest

from vemd.systems.emotiw20.window_features import FEATURE_NAMES, window_features

SR = 16_000


def _column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURE_NAMES.index(name)]


def test_names_are_the_34_short_term_features():
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES)) == 34
    assert FEATURE_NAMES[:8] == (
        "zcr", "energy", "energy_entropy", "spectral_centroid",
        "spectral_spread", "spectral_entropy", "spectral_flux", "spectral_rolloff",
    )  # fmt: skip
    assert FEATURE_NAMES[8] == "mfcc_1" and FEATURE_NAMES[-1] == "chroma_std"


@pytest.mark.parametrize("frequency", [440.0, 1000.0])
def test_sine_centroid_and_zero_crossings(frequency):
    t = np.arange(SR // 2) / SR  # 0.5 s
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no empty Mel filters, no divisions by zero
        features = window_features(0.5 * np.sin(2 * np.pi * frequency * t), SR)
    # 25 ms = 400 samples every 10 ms = 160 samples: 1 + (8000 - 400) // 160 windows
    assert features.shape == (48, 34) and features.dtype == np.float32
    np.testing.assert_allclose(_column(features, "spectral_centroid"), frequency, rtol=0.02)
    np.testing.assert_allclose(_column(features, "zcr"), 2 * frequency / SR, rtol=0.1)
    np.testing.assert_allclose(_column(features, "energy"), 0.125, rtol=0.02)  # mean of (0.5 sin)²
    # the energy is spread evenly over the 10 sub-windows; the sine is stationary
    np.testing.assert_allclose(_column(features, "energy_entropy"), np.log2(10), rtol=0.01)
    assert np.abs(_column(features, "spectral_flux")[1:]).max() < 1e-4
    assert (_column(features, "spectral_spread") < 100).all()
    assert (np.abs(_column(features, "spectral_rolloff") - frequency) < 100).all()


def test_silence_is_finite_and_zero():
    features = window_features(np.zeros(SR // 4, dtype=np.int16), SR)
    assert features.shape == (23, 34) and np.isfinite(features).all()
    mfcc = [FEATURE_NAMES.index(f"mfcc_{i}") for i in range(1, 14)]
    others = np.delete(features, mfcc, axis=1)
    assert np.abs(others).max() == 0.0


def test_short_and_bad_inputs():
    assert window_features(np.zeros(399), SR).shape == (0, 34)
    assert window_features(np.zeros(400), SR).shape == (1, 34)
    with pytest.raises(ValueError, match="mono"):
        window_features(np.zeros((2, SR)), SR)
    with pytest.raises(ValueError, match="NaN"):
        window_features(np.full(SR // 10, np.nan), SR)
