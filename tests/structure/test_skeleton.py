import numpy as np
import pytest

from vemd.structure.skeleton import (
    BODY,
    COCO17_JOINTS,
    FACE,
    FACE_CONTOUR,
    FACE_DYNAMIC,
    FACE_HEATMAP_SKELETON,
    Skeleton,
    skeleton_for,
)


def test_counts():
    assert len(COCO17_JOINTS) == 17
    assert BODY.num_limbs == 18
    assert len(FACE_CONTOUR) == 63
    assert len(FACE_DYNAMIC) == 20
    assert FACE.num_limbs == 20
    assert FACE_HEATMAP_SKELETON.num_limbs == 83
    assert FACE_HEATMAP_SKELETON.limbs[:20] == FACE_DYNAMIC


@pytest.mark.parametrize("skeleton", [BODY, FACE, FACE_HEATMAP_SKELETON])
def test_limbs_in_range_with_distinct_endpoints(skeleton):
    ends = skeleton.limb_array
    assert ends.min() >= 0 and ends.max() < skeleton.num_joints
    assert np.all(ends[:, 0] != ends[:, 1])


def test_contour_segments_as_specified():
    contour = set(FACE_CONTOUR)
    assert {(i, i + 1) for i in range(16)} <= contour  # jaw
    assert (41, 36) in contour and (47, 42) in contour  # eyes closed
    assert (59, 48) in contour and (67, 60) in contour  # lips closed
    assert (30, 31) not in contour and (35, 36) not in contour  # no jumps between parts


def test_inner_lips_appear_twice_in_heatmap_set():
    inner = [(i, i + 1) for i in range(60, 67)] + [(67, 60)]
    for segment in inner:
        assert FACE_HEATMAP_SKELETON.limbs.count(segment) == 2


CONTOUR = Skeleton("contour", 68, FACE_CONTOUR, FACE.flip)


def test_released_dynamic_face_set_is_not_mirror_symmetric():
    with pytest.raises(ValueError, match="no mirror"):
        _ = FACE.limb_flip


@pytest.mark.parametrize("skeleton", [BODY, CONTOUR])
def test_flip_is_an_involution_that_swaps_sides(skeleton):
    flip = np.asarray(skeleton.flip)
    assert sorted(flip) == list(range(skeleton.num_joints))
    assert np.array_equal(flip[flip], np.arange(skeleton.num_joints))
    limb_flip = skeleton.limb_flip
    mirrored = {tuple(sorted(skeleton.limbs[j])) for j in limb_flip}
    assert mirrored == {tuple(sorted(limb)) for limb in skeleton.limbs}


def test_body_flip_by_name():
    flip = BODY.flip
    for i, name in enumerate(COCO17_JOINTS):
        other = COCO17_JOINTS[flip[i]]
        if name.startswith("left_"):
            assert other == "right_" + name[5:]
        elif name.startswith("right_"):
            assert other == "left_" + name[6:]
        else:
            assert other == name


def test_face_flip_landmarks():
    flip = FACE.flip
    assert flip[0] == 16 and flip[8] == 8  # jaw ends swap, chin stays
    assert flip[36] == 45 and flip[39] == 42  # outer/inner eye corners
    assert flip[48] == 54 and flip[51] == 51 and flip[57] == 57  # mouth corners, lip centre


def test_limb_adjacency_shares_joint():
    adj = BODY.limb_adjacency
    assert adj.shape == (18, 18)
    assert np.array_equal(adj, adj.T) and adj.diagonal().sum() == 0
    # (5,7) left upper arm and (7,9) left forearm share the elbow; (5,7) and (14,16) do not.
    arm, forearm, shin = BODY.limbs.index((5, 7)), BODY.limbs.index((7, 9)), BODY.limbs.index((14, 16))
    assert adj[arm, forearm] == 1 and adj[arm, shin] == 0


def test_skeleton_for():
    assert skeleton_for("body", "heatmap") is BODY
    assert skeleton_for("face", "heatmap").num_limbs == 83
    assert skeleton_for("face", "personquery").num_limbs == 20
    with pytest.raises(ValueError, match="modality"):
        skeleton_for("hands", "heatmap")


def test_body_joint_graph_is_coco17_with_the_limbs_as_edges():
    adj = BODY.joint_adjacency
    assert adj.shape == (17, 17) and np.array_equal(adj, adj.T) and adj.diagonal().sum() == 0
    assert {tuple(e) for e in np.argwhere(np.triu(adj))} == {tuple(sorted(limb)) for limb in BODY.limbs}
    assert np.array_equal(BODY.limb_joints, np.arange(17))


def test_face_joint_graph_is_ibug68_contour_and_dynamic_connections():
    adj = FACE.joint_adjacency
    assert adj.shape == (68, 68) and np.array_equal(adj, FACE_HEATMAP_SKELETON.joint_adjacency)
    assert adj[37, 40] == 1 and adj[36, 37] == 1 and adj[8, 9] == 1  # dynamic, eye ring, jaw
    assert adj[36, 38] == 0
    assert len(FACE.limb_joints) == 30 and set(FACE.limb_joints) == set(np.unique(FACE_DYNAMIC))
