"""Body crops of the offline backend: the masked crop MediaPipe sees (no annotate extra needed)."""

from __future__ import annotations

import numpy as np

from vemd.annotate.backends.offline_bodies import MASK_VALUE, _clip_box, _masked_crop


def _mask_then_crop(
    image: np.ndarray, crop: tuple[int, int, int, int], masks: list[np.ndarray]
) -> np.ndarray:
    """What the crop was before: the whole frame masked, then cut."""
    out = image.copy()
    height, width = image.shape[:2]
    for box in masks:
        x0, y0, x1, y1 = _clip_box(box, width, height)
        out[y0:y1, x0:x1] = MASK_VALUE
    x0, y0, x1, y1 = crop
    return out[y0:y1, x0:x1]


def _box(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """x0, y0, x1, y1 with fractional corners anywhere in [low, high), often off the frame."""
    xs, ys = np.sort(rng.uniform(low, high, 2)), np.sort(rng.uniform(low, high, 2))
    return np.array([xs[0], ys[0], xs[1], ys[1]])


def test_masked_crop_equals_masking_the_frame_then_cropping():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (90, 120, 3), np.uint8)
    for _ in range(500):
        crop = _clip_box(_box(rng, -30, 150), 120, 90)
        masks = [_box(rng, -40, 160) for _ in range(rng.integers(0, 4))]
        got = _masked_crop(image, crop, masks)
        np.testing.assert_array_equal(got, _mask_then_crop(image, crop, masks))
        assert got.flags.c_contiguous and not np.shares_memory(got, image)


def test_a_box_off_the_frame_masks_nothing():
    image = np.zeros((40, 50, 3), np.uint8)
    for box in ([-30, -20, -5.5, 30], [10, -30, 20, -2], [55, 5, 70, 20]):
        assert not (_masked_crop(image, (0, 0, 50, 40), [np.array(box, float)]) == MASK_VALUE).any()
