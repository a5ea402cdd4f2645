"""ST-GCN: normalised adjacency values, shapes, spatial/temporal receptive field; the skeleton
ST-GCN's joints from limb endpoints, its joint graph, gradients."""

import math

import numpy as np
import pytest
import torch

from vemd.models.stgcn import SkeletonSTGCN, STGCNBlock, normalized_adjacency
from vemd.structure.skeleton import BODY, FACE, Skeleton
from vemd.structure.targets import person_query_targets

PATH3 = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.float32)
PATH4 = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=torch.float32)


def test_normalized_adjacency_on_a_path_graph():
    s = 1 / math.sqrt(6)  # 1 / sqrt(deg 2 · deg 3)
    expected = torch.tensor([[1 / 2, s, 0], [s, 1 / 3, s], [0, s, 1 / 2]])
    assert torch.allclose(normalized_adjacency(PATH3), expected)


@pytest.mark.parametrize(("in_channels", "out_channels", "frames"), [(4, 4, 5), (4, 16, 5), (8, 3, 1)])
def test_block_shapes(in_channels, out_channels, frames):
    block = STGCNBlock(in_channels, out_channels, PATH4)
    y = block(torch.randn(6, in_channels, frames, 4))
    assert y.shape == (6, out_channels, frames, 4)
    assert torch.isfinite(y).all()


def test_receptive_field_is_one_hop_and_three_frames():
    torch.manual_seed(0)
    block = STGCNBlock(3, 3, PATH4, temporal_kernel=3).eval()
    x = torch.randn(1, 3, 6, 4)
    y = block(x)
    x2 = x.clone()
    x2[:, :, 0, 0] += 5.0  # frame 0, node 0
    diff = (block(x2) - y).abs().sum(dim=(0, 1))  # (T, V)
    assert diff[:2, :2].sum() > 0
    assert torch.all(diff[2:] == 0), "a kernel-3 temporal conv reaches one frame each side"
    assert torch.all(diff[:, 2:] == 0), "one graph conv reaches one hop"


def test_gradient_reaches_every_parameter():
    block = STGCNBlock(4, 8, PATH4)
    block(torch.randn(3, 4, 5, 4)).square().sum().backward()
    for name, param in block.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_even_temporal_kernel_is_rejected():
    with pytest.raises(ValueError, match="odd"):
        STGCNBlock(4, 4, PATH4, temporal_kernel=2)


PATH_SKELETON = Skeleton("path", 3, ((0, 1), (1, 2)), (2, 1, 0))


def test_joints_average_the_endpoints_of_the_limbs_they_end():
    stgcn = SkeletonSTGCN(PATH_SKELETON, 4)
    limbs = torch.tensor([[0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.9, 1.0]])  # (0,1) then (1,2), x1 y1 x2 y2
    expected = torch.tensor([[[0.1, 0.2], [0.5, 0.6], [0.9, 1.0]]])  # joint 1 ends both limbs
    torch.testing.assert_close(stgcn.joints(limbs), expected)


def test_joints_of_target_limbs_are_the_keypoints():
    keypoints = np.random.default_rng(0).uniform(0, 64, (2, 17, 2))
    visible = np.ones((2, 17, 1))
    target = person_query_targets(np.concatenate([keypoints, visible], -1), BODY, 64, 64)
    joints = SkeletonSTGCN(BODY, 4).joints(torch.from_numpy(target.limbs))  # (2, 17, 2)
    torch.testing.assert_close(joints, torch.from_numpy(keypoints / 64).float())


@pytest.mark.parametrize(("skeleton", "num_nodes"), [(BODY, 17), (FACE, 30)])
def test_graph_is_the_skeletons_joint_graph(skeleton, num_nodes):
    stgcn = SkeletonSTGCN(skeleton, 4)
    joints = skeleton.limb_joints
    assert stgcn.num_nodes == num_nodes
    expected = normalized_adjacency(torch.from_numpy(skeleton.joint_adjacency[np.ix_(joints, joints)]))
    torch.testing.assert_close(stgcn.block.adjacency, expected)


def test_refinement_reaches_one_hop_on_the_body_graph_and_moves_shared_endpoints_together():
    torch.manual_seed(0)
    stgcn = SkeletonSTGCN(BODY, 8).eval()
    limbs = torch.rand(2, 3, 4 * BODY.num_limbs)  # one clip of T=2 frames, Q=3
    out = stgcn(limbs, num_frames=2)
    assert out.shape == limbs.shape
    delta = (out - limbs).view(2, 3, BODY.num_limbs, 2, 2)  # per limb endpoint
    shoulder = [(i, e) for i, limb in enumerate(BODY.limbs) for e, j in enumerate(limb) if j == 5]
    moves = torch.stack([delta[:, :, i, e] for i, e in shoulder])
    assert len(shoulder) == 4 and torch.allclose(moves, moves[:1].expand_as(moves))

    changed = limbs.clone().view(2, 3, BODY.num_limbs, 4)
    changed[:, :, BODY.limbs.index((7, 9)), 2:] += 0.5  # the left wrist (9) ends only limb (7, 9)
    diff = (stgcn(changed.flatten(2), num_frames=2) - out).abs().view(2, 3, BODY.num_limbs, 2, 2)
    moved = {BODY.limbs[i][e] for i, e in (diff.sum(dim=(0, 1, 4)) > 0).nonzero().tolist()}
    assert moved == {7, 9}, "the wrist and its one neighbour, the elbow"


def test_skeleton_stgcn_gradients_reach_every_parameter_and_the_limbs():
    stgcn = SkeletonSTGCN(FACE, 8)
    limbs = torch.rand(6, 2, 4 * FACE.num_limbs, requires_grad=True)
    stgcn(limbs, num_frames=3).square().sum().backward()
    assert limbs.grad is not None and limbs.grad.abs().sum() > 0
    for name, param in stgcn.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="num_frames"):
        stgcn(limbs, num_frames=4)
