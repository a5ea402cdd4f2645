"""PersonQuery decoder: shapes and ranges, gradients, loss on empty/crowded/perfect frames, invariances."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vemd.models.personquery import PersonQueryDecoder
from vemd.structure.skeleton import skeleton_for
from vemd.structure.targets import person_query_targets

Q = 4


def make_decoder(modality="body", stgcn=False, **kwargs):
    torch.manual_seed(0)
    skeleton = skeleton_for(modality, "personquery")
    return PersonQueryDecoder(
        in_channels=8,
        num_limbs=skeleton.num_limbs,
        num_queries=Q,
        hidden_dim=32,
        num_layers=2,
        num_heads=4,
        stgcn=stgcn,
        skeleton=skeleton,
        **kwargs,
    )


def frame_targets(counts, modality="body", seed=0):
    """Targets from random keypoints through the real target builder (some joints hidden)."""
    skeleton = skeleton_for(modality, "personquery")
    rng = np.random.default_rng(seed)
    targets = []
    for count in counts:
        keypoints = np.concatenate(
            [
                rng.uniform(0, 64, (count, skeleton.num_joints, 2)),
                rng.random((count, skeleton.num_joints, 1)) > 0.2,
            ],
            axis=-1,
        )
        t = person_query_targets(keypoints, skeleton, 64, 64)
        targets.append({k: torch.from_numpy(getattr(t, k)) for k in ("limbs", "limb_mask", "adjacency")})
    return targets


@pytest.mark.parametrize(("modality", "stgcn"), [("body", False), ("face", True)])
def test_output_shapes_and_ranges(modality, stgcn):
    decoder = make_decoder(modality, stgcn)
    num_limbs = decoder.num_limbs
    out = decoder(torch.randn(6, 8, 3, 3), num_frames=3)  # B=2 clips of T=3 frames
    assert out["pred_limbs"].shape == (6, Q, 4 * num_limbs)
    assert out["pred_adjacency"].shape == (6, Q, num_limbs, num_limbs)
    for key in ("pred_limbs", "pred_adjacency"):
        assert out[key].min() >= 0 and out[key].max() <= 1
    assert torch.allclose(out["pred_adjacency"], out["pred_adjacency"].transpose(-1, -2))
    sr = decoder.sr_features(out)
    assert sr.shape == (6, 4 * Q * num_limbs)
    assert torch.equal(sr, out["sr_refined" if stgcn else "pred_limbs"].flatten(1))


def test_gradient_reaches_every_parameter_without_nan():
    decoder = make_decoder(stgcn=True)
    out = decoder(torch.randn(4, 8, 2, 2), num_frames=2)
    terms, _ = decoder.loss(out, frame_targets([2, 0, 5, 1]))
    (terms["loss_limb"] + terms["loss_adj"] + decoder.sr_features(out).square().mean()).backward()
    for name, param in decoder.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_frames_without_persons_pull_every_query_to_empty():
    decoder = make_decoder()
    out = decoder(torch.randn(2, 8, 2, 2))
    terms, diagnostics = decoder.loss(out, frame_targets([0, 0]))
    expected_limb = F.smooth_l1_loss(out["pred_limbs"], torch.zeros_like(out["pred_limbs"]))
    expected_adj = F.binary_cross_entropy(out["pred_adjacency"], torch.zeros_like(out["pred_adjacency"]))
    assert set(terms) == {"loss_limb", "loss_adj"}
    assert torch.isclose(terms["loss_limb"], expected_limb)
    assert torch.isclose(terms["loss_adj"], expected_adj)
    assert set(diagnostics) == {"num_unmatched_persons"} and diagnostics["num_unmatched_persons"] == 0


def test_persons_beyond_the_queries_are_counted():
    decoder = make_decoder()
    out = decoder(torch.randn(3, 8, 2, 2))
    terms, diagnostics = decoder.loss(out, frame_targets([Q + 3, 2, Q + 1]))
    assert diagnostics["num_unmatched_persons"].item() == 4
    assert all(torch.isfinite(v) for v in terms.values())


def test_perfect_matched_prediction_has_zero_loss():
    decoder = make_decoder()
    targets = frame_targets([3, 0, 1], seed=1)
    num_limbs = decoder.num_limbs
    pred_limbs = torch.zeros(3, Q, 4 * num_limbs)
    pred_adjacency = torch.zeros(3, Q, num_limbs, num_limbs)
    slots = {0: [3, 0, 2], 2: [1]}  # frame → query slot of each person
    for frame, queries in slots.items():
        pred_limbs[frame, queries] = targets[frame]["limbs"]
        pred_adjacency[frame, queries] = targets[frame]["adjacency"]
    losses, _ = decoder.loss({"pred_limbs": pred_limbs, "pred_adjacency": pred_adjacency}, targets)
    assert losses["loss_limb"].item() < 1e-8
    assert losses["loss_adj"].item() < 1e-8

    pred_limbs[0, 3] += 0.1  # a matched query off by 0.1 raises the limb loss
    worse, _ = decoder.loss({"pred_limbs": pred_limbs, "pred_adjacency": pred_adjacency}, targets)
    assert worse["loss_limb"].item() > 1e-4


def test_adjacency_targets_and_predictions_are_symmetric():
    for target in frame_targets([3, 2], modality="face") + frame_targets([2]):
        adjacency = target["adjacency"]
        assert torch.equal(adjacency, adjacency.transpose(-1, -2))
        assert adjacency.sum() > 0


def test_loss_is_invariant_to_the_order_of_persons():
    decoder = make_decoder()
    out = decoder(torch.randn(2, 8, 2, 2))
    targets = frame_targets([3, Q + 2], seed=2)
    shuffled = []
    for i, target in enumerate(targets):
        order = torch.randperm(len(target["limbs"]), generator=torch.Generator().manual_seed(i))
        shuffled.append({k: v[order] for k, v in target.items()})
    (a, a_diag), (b, b_diag) = decoder.loss(out, targets), decoder.loss(out, shuffled)
    for key in ("loss_limb", "loss_adj"):
        assert torch.isclose(a[key], b[key]), key
    assert a_diag == b_diag


def test_stgcn_mixes_neighbouring_frames_of_one_clip_only():
    decoder = make_decoder(stgcn=True).eval()
    pred_limbs = torch.rand(8, Q, 4 * decoder.num_limbs)  # B=2 clips of T=4 frames
    base = decoder.stgcn(pred_limbs, num_frames=4)
    changed = pred_limbs.clone()
    changed[1] += 0.3  # clip 0, frame 1
    diff = (decoder.stgcn(changed, num_frames=4) - base).abs().sum(dim=(1, 2))
    assert diff[:3].min() > 0, "frames 0-2 of clip 0 see frame 1"
    assert diff[3:].max() == 0, "frame 3 of clip 0 and all of clip 1 do not"


def test_num_limbs_must_match_the_skeleton():
    with pytest.raises(ValueError, match="num_limbs"):
        PersonQueryDecoder(
            in_channels=8, num_limbs=5, num_queries=Q, skeleton=skeleton_for("body", "personquery")
        )
