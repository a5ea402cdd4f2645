"""Heatmap decoder: the limbs decoder's §4.3 shapes, chained stages, per-stage terms, gradients."""

import pytest
import torch
from torch import nn

from vemd.models.heatmap_decoder import HeatmapDecoder, LimbsDecoder, UNetResUpsample


def convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("num_limbs", [18, 83])
def test_paper_limbs_decoder_is_six_stages_of_five_256_to_256_convs(num_limbs):
    with torch.device("meta"):
        limbs = LimbsDecoder(256, num_limbs, num_stages=6, layers_per_stage=5)
    assert len(limbs.stages) == len(limbs.heads) == 6
    for stage in limbs.stages:
        layers = convs(stage)
        assert len(layers) == 5
        for conv in layers:
            assert (conv.in_channels, conv.out_channels) == (256, 256)
            assert conv.kernel_size == (3, 3) and conv.padding == (1, 1) and conv.stride == (1, 1)
    for head in limbs.heads:
        assert (head.in_channels, head.out_channels, head.kernel_size) == (256, num_limbs, (1, 1))
    expected = 6 * (5 * (256 * 256 * 9 + 256) + 257 * num_limbs)
    assert sum(p.numel() for p in limbs.parameters()) == expected


def small_decoder(num_stages=3, supervision="all"):
    torch.manual_seed(0)
    unet = UNetResUpsample(8, 16, [16, 16, 16, 16])
    return HeatmapDecoder(unet, LimbsDecoder(16, 5, num_stages, 2), supervision=supervision)


def test_every_stage_predicts_heatmaps_at_the_unet_resolution():
    decoder = small_decoder()
    out = decoder(torch.randn(2, 8, 7, 7))
    assert len(out["pred_stages"]) == 3
    assert all(s.shape == (2, 5, 56, 56) for s in out["pred_stages"])
    assert out["pred_heatmaps"] is out["pred_stages"][-1]
    assert decoder.sr_features(out).shape == (2, 56 * 56)


def test_stages_chain_in_feature_space():
    """Stage s reads stage s − 1's features: changing stage 1 changes every later stage's output."""
    decoder = small_decoder().eval()
    features = torch.randn(1, 16, 56, 56)
    before = decoder.limbs(features)
    with torch.no_grad():
        convs(decoder.limbs.stages[0])[0].bias.add_(0.5)
    after = decoder.limbs(features)
    assert all(not torch.allclose(a, b) for a, b in zip(before, after))
    with torch.no_grad():
        convs(decoder.limbs.stages[2])[0].bias.add_(0.5)
    last_changed = decoder.limbs(features)
    assert torch.equal(last_changed[0], after[0]) and torch.equal(last_changed[1], after[1])


def test_loss_terms_are_the_per_stage_mse():
    decoder = small_decoder()
    out = decoder(torch.randn(2, 8, 7, 7))
    target = torch.sigmoid(out["pred_stages"][1]).detach()  # stage 2 is exact
    terms, diagnostics = decoder.loss(out, target)
    assert set(terms) == {"loss_heatmap_stage1", "loss_heatmap_stage2", "loss_heatmap"} and not diagnostics
    assert terms["loss_heatmap_stage2"].item() < 1e-12
    expected = torch.mean((torch.sigmoid(out["pred_heatmaps"]) - target) ** 2)
    torch.testing.assert_close(terms["loss_heatmap"], expected)
    assert decoder.supervised_terms == decoder.term_names
    assert small_decoder(supervision="last").supervised_terms == ("loss_heatmap",)
    assert small_decoder(num_stages=1).term_names == ("loss_heatmap",)


def test_supervising_every_stage_trains_every_parameter():
    decoder = small_decoder()
    out = decoder(torch.randn(2, 8, 7, 7))
    terms, _ = decoder.loss(out, torch.rand(2, 5, 56, 56))
    sum(terms[name] for name in decoder.supervised_terms).backward()
    for name, param in decoder.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_unknown_supervision_is_rejected():
    with pytest.raises(ValueError, match="supervision"):
        small_decoder(supervision="middle")
