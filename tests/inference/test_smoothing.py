"""Timeline smoothing: linear interpolation to the frame rate, then a normalised Hamming window."""

import numpy as np
import pytest

from vemd.inference.smoothing import hamming_smooth, interpolate, smooth_timeline, smooth_windows


def test_a_constant_timeline_stays_constant_up_to_its_ends():
    values = np.tile([0.2, 0.3, 0.5], (50, 1))
    np.testing.assert_allclose(hamming_smooth(values, 9), values, atol=1e-12)


def test_an_impulse_spreads_as_the_normalised_hamming_window():
    values = np.zeros((41, 1))
    values[20] = 1.0
    smoothed = hamming_smooth(values, 9)[:, 0]
    kernel = np.hamming(9) / np.hamming(9).sum()
    np.testing.assert_allclose(smoothed[16:25], kernel, atol=1e-12)
    assert smoothed[:16].sum() == 0 and smoothed[25:].sum() == 0


def test_short_windows_leave_values_unchanged():
    values = np.random.default_rng(0).random((10, 2))
    np.testing.assert_array_equal(hamming_smooth(values, 2), values)
    np.testing.assert_array_equal(hamming_smooth(values[:1], 9), values[:1])


def test_probability_rows_stay_probabilities():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet([1, 1, 1], size=30)
    smoothed = hamming_smooth(probs, 7)
    np.testing.assert_allclose(smoothed.sum(1), 1, atol=1e-12)
    assert (smoothed >= 0).all()


def test_interpolation_is_linear_and_held_at_the_ends():
    at = np.array([-1.0, 0.0, 0.5, 1.0, 3.0])
    out = interpolate(np.array([0.0, 1.0]), np.array([[0.0], [1.0]]), at)
    np.testing.assert_allclose(out[:, 0], [0, 0, 0.5, 1, 1])


def test_a_timeline_goes_to_the_frame_rate_and_back():
    times = np.array([0.5, 1.5, 2.5, 3.5])  # window centres of four 1-s windows
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    frame_times, curve = smooth_timeline(times, values, rate=10, seconds=0.5, duration=4.0)
    assert len(frame_times) == 40 and frame_times[1] == pytest.approx(0.1) and curve.shape == (40, 2)
    np.testing.assert_allclose(curve.sum(1), 1, atol=1e-12)
    unsmoothed = smooth_windows(times, values, rate=10, seconds=0, duration=4.0)
    np.testing.assert_allclose(unsmoothed, values, atol=1e-9)  # no smoothing: the windows come back
    smoothed = smooth_windows(times, values, rate=10, seconds=2.0, duration=4.0)
    assert (np.abs(np.diff(smoothed[:, 0])) < 1).all()  # alternating windows are pulled together
    with pytest.raises(ValueError, match="rate 0"):
        smooth_timeline(times, values, rate=0, seconds=0.5)
