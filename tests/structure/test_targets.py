import numpy as np
import pytest

from vemd.structure.skeleton import BODY, FACE_CONTOUR, FACE_HEATMAP_SKELETON, IBUG68_FLIP, Skeleton
from vemd.structure.targets import person_query_targets, render_limb_heatmaps
from vemd.structure.transforms import ClipTransform, crop, hflip, resize


def _dense_heatmaps(keypoints, skeleton, width, height, size=56, sigma=2.0):
    """All cells × all segments by broadcasting: slow, exact, independent of the cutoff."""
    out = np.zeros((skeleton.num_limbs, size, size), np.float64)
    cy, cx = np.mgrid[0:size, 0:size].astype(np.float64)
    scale = np.array([size / width, size / height])
    for person in keypoints:
        for channel, (i, j) in enumerate(skeleton.limbs):
            if person[i, 2] <= 0 or person[j, 2] <= 0:
                continue
            a, b = person[i, :2] * scale - 0.5, person[j, :2] * scale - 0.5
            v = b - a
            t = np.clip(((cx - a[0]) * v[0] + (cy - a[1]) * v[1]) / max(v @ v, 1e-12), 0, 1)
            d2 = (cx - a[0] - t * v[0]) ** 2 + (cy - a[1] - t * v[1]) ** 2
            out[channel] = np.maximum(out[channel], np.exp(-d2 / (2 * sigma**2)))
    return out


def _random_people(rng, num, joints, width=224, height=224):
    xy = rng.uniform(-10, [width + 10, height + 10], (num, joints, 2))
    vis = (rng.random((num, joints, 1)) > 0.2).astype(np.float64)
    return np.concatenate([xy, vis], -1)


@pytest.mark.parametrize("skeleton", [BODY, FACE_HEATMAP_SKELETON])
def test_matches_dense_reference(skeleton):
    rng = np.random.default_rng(0)
    people = _random_people(rng, 4, skeleton.num_joints, 320, 240)
    fast = render_limb_heatmaps(people, skeleton, 320, 240)
    exact = _dense_heatmaps(people, skeleton, 320, 240)
    assert fast.shape == (skeleton.num_limbs, 56, 56) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, exact, atol=np.exp(-(3.0**2) / 2) + 1e-5)  # default cutoff 3σ
    exact_cut = render_limb_heatmaps(people, skeleton, 320, 240, cutoff=6.0)
    np.testing.assert_allclose(exact_cut, exact, atol=1e-5)


def test_known_values_on_a_horizontal_limb():
    # left shoulder (5) at cell (10, 20) to left elbow (7) at cell (30, 20): frame of 56 px, 1 px per cell
    person = np.zeros((1, 17, 3))
    person[0, 5] = [10.5, 20.5, 1]
    person[0, 7] = [30.5, 20.5, 1]
    maps = render_limb_heatmaps(person, BODY, 56, 56, sigma=2.0)
    channel = BODY.limbs.index((5, 7))
    assert maps[channel, 20, 15] == pytest.approx(1.0)  # on the segment
    assert maps[channel, 22, 15] == pytest.approx(np.exp(-4 / 8), rel=1e-5)  # 2 cells off
    assert maps[channel, 20, 6] == pytest.approx(np.exp(-16 / 8), rel=1e-5)  # 4 cells past the end
    others = np.delete(maps, channel, axis=0)
    assert others.max() == 0  # limbs with an invisible end are skipped


def test_empty_frame():
    maps = render_limb_heatmaps(np.zeros((0, 17, 3)), BODY, 100, 100)
    assert maps.shape == (18, 56, 56) and maps.max() == 0


def test_persons_combine_by_max():
    rng = np.random.default_rng(1)
    people = _random_people(rng, 2, 17)
    both = render_limb_heatmaps(people, BODY, 224, 224)
    each = [render_limb_heatmaps(p[None], BODY, 224, 224) for p in people]
    np.testing.assert_allclose(both, np.maximum(*each))
    assert both.max() <= 1.0


def test_flip_moves_targets_with_pixels():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    keypoints = {"body": _random_people(rng, 3, 17), "face": _random_people(rng, 2, 68)}
    flipped_image, flipped = hflip(image, keypoints)
    assert np.array_equal(flipped_image, image[:, ::-1])
    # the face contour set is mirror-symmetric; the released dynamic set is not (see Skeleton.limb_flip)
    contour = Skeleton("contour", 68, FACE_CONTOUR, IBUG68_FLIP)
    for part, skeleton in (("body", BODY), ("face", contour)):
        before = render_limb_heatmaps(keypoints[part], skeleton, 224, 224)
        after = render_limb_heatmaps(flipped[part], skeleton, 224, 224)
        # the mirrored scene's heatmaps are the mirrored heatmaps, with left/right limbs swapped
        expected = before[skeleton.limb_flip][:, :, ::-1]
        np.testing.assert_allclose(after, expected, atol=1e-5)


def test_flip_swaps_left_and_right_joint_names():
    person = np.zeros((1, 17, 3))
    person[0, 5] = [50, 60, 1]  # left shoulder
    person[0, 6] = [150, 60, 1]  # right shoulder
    _, flipped = hflip(np.zeros((100, 200, 3), np.uint8), {"body": person})
    assert flipped["body"][0, 5, 0] == pytest.approx(200 - 150)  # new left shoulder = old right one
    assert flipped["body"][0, 6, 0] == pytest.approx(200 - 50)


def test_crop_and_resize_move_keypoints_with_pixels():
    image = np.zeros((200, 300, 3), np.uint8)
    image[100, 150] = 255
    point = np.zeros((1, 17, 3))
    point[0, 0] = [150.5, 100.5, 1]  # centre of the white pixel
    point[0, 1] = [5, 5, 1]  # will leave the crop
    cut, moved = crop(image, {"body": point}, (100, 50, 100, 100))
    assert cut[50, 50].max() == 255
    assert moved["body"][0, 0, :2] == pytest.approx([50.5, 50.5])
    assert moved["body"][0, 1, 2] == 0  # outside the crop → invisible
    big, scaled = resize(cut, moved, (200, 200))
    y, x = np.unravel_index(big[..., 0].argmax(), big.shape[:2])
    assert scaled["body"][0, 0, :2] == pytest.approx([x + 0.5, y + 0.5], abs=1.0)


def test_clip_transform_is_identical_for_every_frame():
    rng = np.random.default_rng(3)
    transform = ClipTransform((10, 20, 150, 150), True, (112, 112))
    image = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
    kp = {"body": _random_people(rng, 2, 17)}
    a_img, a_kp = transform(image, kp)
    b_img, b_kp = transform(image, kp)
    assert a_img.shape == (112, 112, 3)
    assert np.array_equal(a_img, b_img) and np.array_equal(a_kp["body"], b_kp["body"])


def test_person_query_targets():
    person = np.zeros((2, 17, 3))
    person[0, :, :2] = np.linspace(0, 100, 34).reshape(17, 2)
    person[0, :, 2] = 1
    person[0, 9, 2] = 0  # left wrist hidden: limb (7, 9) invisible
    targets = person_query_targets(person, BODY, 200, 100)
    assert targets.limbs.shape == (2, 72) and targets.limb_mask.shape == (2, 18)
    assert targets.adjacency.shape == (2, 18, 18)
    forearm, arm = BODY.limbs.index((7, 9)), BODY.limbs.index((5, 7))
    assert targets.limb_mask[0, forearm] == 0 and targets.limb_mask[0, arm] == 1
    assert targets.limbs[0].reshape(18, 4)[forearm].sum() == 0
    x1, y1, x2, y2 = targets.limbs[0].reshape(18, 4)[arm]
    assert (x1, y1) == pytest.approx((person[0, 5, 0] / 200, person[0, 5, 1] / 100))
    assert (x2, y2) == pytest.approx((person[0, 7, 0] / 200, person[0, 7, 1] / 100))
    assert targets.adjacency[0, arm, forearm] == 0  # forearm invisible
    elbow_limb = BODY.limbs.index((6, 8))
    assert targets.adjacency[0, BODY.limbs.index((8, 10)), elbow_limb] == 1
    assert targets.limbs[1].sum() == 0 and targets.adjacency[1].sum() == 0  # nobody visible
    assert targets.limbs.min() >= 0 and targets.limbs.max() <= 1
