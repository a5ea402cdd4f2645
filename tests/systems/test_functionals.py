import numpy as np
import pytest

from vemd.systems.abaw24.functionals import window_functionals, window_spans

# 10 frames at 2 fps, 2-second windows of 4 frames: [0, 4), [4, 8) and the tail [8, 10) of
# 2 frames = half a window, kept
EMBEDDINGS = np.stack([np.arange(10.0), [3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3]], axis=1)  # (10, 2)


def test_mean_min_max_hand_example():
    # window 0: col 0 = 0 1 2 3 → mean 1.5, min 0, max 3; col 1 = 3 1 4 1 → mean 2.25, min 1, max 4
    # window 1: col 0 = 4 5 6 7 → 5.5, 4, 7;            col 1 = 5 9 2 6 → 5.5, 2, 9
    # window 2: col 0 = 8 9     → 8.5, 8, 9;            col 1 = 5 3     → 4, 3, 5
    features, spans = window_functionals(EMBEDDINGS, fps=2.0)
    assert spans.tolist() == [[0, 4], [4, 8], [8, 10]]
    np.testing.assert_allclose(
        features,
        [
            [1.5, 2.25, 0, 1, 3, 4],
            [5.5, 5.5, 4, 2, 7, 9],
            [8.5, 4.0, 8, 3, 9, 5],
        ],
    )


def test_short_tail_dropped_and_stats_order_kept():
    # 9 frames: the tail [8, 9) is 1 frame < half of 4, dropped
    features, spans = window_functionals(EMBEDDINGS[:9], fps=2.0, stats=("max", "mean"))
    assert spans.tolist() == [[0, 4], [4, 8]]
    np.testing.assert_allclose(features, [[3, 4, 1.5, 2.25], [7, 9, 5.5, 5.5]])


def test_window_length_rounds_window_times_fps():
    # 2.5 fps × 2 s = 5 frames: [0, 5), [5, 10); 29.97 fps × 2 s = 59.94 → 60 frames
    assert window_spans(10, fps=2.5).tolist() == [[0, 5], [5, 10]]
    assert window_spans(150, fps=29.97).tolist() == [[0, 60], [60, 120], [120, 150]]


def test_clip_shorter_than_half_a_window_gives_no_window():
    features, spans = window_functionals(EMBEDDINGS[:1], fps=2.0)
    assert features.shape == (0, 6) and spans.shape == (0, 2)


def test_errors():
    with pytest.raises(ValueError, match="unknown functionals"):
        window_functionals(EMBEDDINGS, fps=2.0, stats=("median",))
    with pytest.raises(ValueError, match=r"\(T, D\)"):
        window_functionals(np.zeros(10), fps=2.0)
    with pytest.raises(ValueError, match="fps > 0"):
        window_functionals(EMBEDDINGS, fps=0.0)
