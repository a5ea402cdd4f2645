"""Timeline smoothing: linear interpolation to the frame rate, then a normalised Hamming window."""

import numpy as np
import pytest

from vemd.inference.smoothing import frame_series, hamming_smooth, interpolate, smooth_windows


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


def test_a_frame_series_interpolates_then_smooths_at_the_frame_rate():
    positions = np.array([0.5, 1.5, 2.5, 3.5])  # the centres of four 1-s windows
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    frames = np.arange(40) / 10  # 4 s at 10 fps
    interpolated = frame_series(positions, values, frames, rate=10, seconds=0)
    np.testing.assert_allclose(interpolated, interpolate(positions, values, frames))
    smoothed = frame_series(positions, values, frames, rate=10, seconds=0.5)  # 5 taps
    np.testing.assert_allclose(smoothed, hamming_smooth(interpolated, 5))
    np.testing.assert_allclose(smoothed.sum(1), 1, atol=1e-12)
    # a position given twice takes the mean of its values
    twice = frame_series(
        np.array([0.0, 1.0, 1.0]), np.array([[0.0], [1.0], [3.0]]), np.array([0.5, 1.0]), rate=0, seconds=0.5
    )
    np.testing.assert_allclose(twice[:, 0], [1.0, 2.0])


def test_windows_read_back_from_their_smoothed_frames_feel_their_neighbours():
    """Six 1-s windows alternating 1 and 0, 10 fps, 0.5-s Hamming (the ABAW 2024 length): each
    window takes the mean of the smoothed series over its frames, not the series at its centre
    (where a linear interpolation between centres gives back nearly its own value)."""
    starts = np.arange(6.0)
    values = np.array([[1.0], [0.0], [1.0], [0.0], [1.0], [0.0]])
    frames = np.arange(60) / 10
    out = smooth_windows(starts, starts + 1, values, frames, rate=10, seconds=0.5)[:, 0]
    series = frame_series(starts + 0.5, values, frames, rate=10, seconds=0.5)[:, 0]
    np.testing.assert_allclose(out, [series[10 * k : 10 * k + 10].mean() for k in range(6)])
    # an inner window moves about a quarter of the way towards its neighbours
    assert (np.abs(out[1:-1] - values[1:-1, 0]) > 0.2).all()
    at_centres = interpolate(frames, series[:, None], starts + 0.5)[:, 0]
    assert (np.abs(at_centres[1:-1] - values[1:-1, 0]) < 0.1).all()
    # a window without a frame in its span reads the series at its centre
    gap = smooth_windows(np.array([0.0, 1.02]), np.array([1.0, 1.08]), values[:2], frames, rate=10, seconds=0)
    between = np.interp([1.0, 1.1], [0.5, 1.05], [1.0, 0.0])  # the series at the frames around 1.05 s
    assert gap[1, 0] == pytest.approx(between.mean())
