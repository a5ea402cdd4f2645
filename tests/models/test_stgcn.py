"""ST-GCN block: normalised adjacency values, shapes, and spatial/temporal receptive field."""

import math

import pytest
import torch

from vemd.models.stgcn import STGCNBlock, normalized_adjacency

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
