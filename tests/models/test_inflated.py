import pytest
import timm
import torch

from vemd.errors import DataError
from vemd.models.inflated import InflatedResNetClassifier, TimeConv3d, inflate_resnet


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny inputs run fastest on one thread (and never wait on a busy second core)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomised_2d(name: str) -> torch.nn.Module:
    """A tiny timm ResNet in eval mode whose BatchNorms have non-trivial statistics."""
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=3)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("name", ["resnet18", "resnet10t"])  # plain stem; deep stem with avg_down
def test_identical_frames_give_the_2d_features(name):
    model2d = _randomised_2d(name)
    model3d = inflate_resnet(model2d).eval()
    frame = torch.randn(2, 3, 32, 32)
    clip = frame.unsqueeze(2).expand(-1, -1, 3, -1, -1)  # (B, 3, T, H, W), T identical frames
    with torch.no_grad():
        pooled2d = model2d.forward_head(model2d.forward_features(frame), pre_logits=True)
        pooled3d = model3d.forward_head(model3d.forward_features(clip), pre_logits=True)
        logits2d, logits3d = model2d(frame), model3d(clip)
    assert pooled3d.shape == pooled2d.shape
    torch.testing.assert_close(pooled3d, pooled2d, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits3d, logits2d, rtol=1e-4, atol=1e-5)


def test_time_kernels_and_strides_follow_the_stages():
    model3d = inflate_resnet(timm.create_model("resnet18", pretrained=False))
    assert model3d.conv1.kernel_size == (7, 7, 7) and model3d.conv1.stride == (1, 2, 2)
    assert model3d.maxpool.kernel_size == (3, 3, 3) and model3d.maxpool.stride == (2, 2, 2)
    assert model3d.layer1[0].conv1.kernel_size == (3, 3, 3) and model3d.layer1[0].conv1.stride == (1, 1, 1)
    assert model3d.layer2[0].conv1.stride == (2, 2, 2)
    assert model3d.layer2[0].downsample[0].kernel_size == (1, 1, 1)
    assert isinstance(model3d.layer2[0].downsample[1], torch.nn.BatchNorm3d)
    custom = inflate_resnet(
        timm.create_model("resnet18", pretrained=False), time_kernel={"layer4": 3}, downsample_time=False
    )
    assert custom.conv1.kernel_size == (1, 7, 7) and custom.layer3[0].conv1.kernel_size == (1, 3, 3)
    assert custom.layer4[0].conv1.kernel_size == (3, 3, 3) and custom.layer4[0].conv1.stride == (1, 2, 2)
    with pytest.raises(ValueError, match="odd"):
        inflate_resnet(timm.create_model("resnet18", pretrained=False), time_kernel=2)


def test_zero_time_padding_is_a_plain_conv3d():
    conv = TimeConv3d(2, 4, kernel_size=3, padding=1, time_padding="zeros")
    reference = torch.nn.Conv3d(2, 4, kernel_size=3, padding=1)
    reference.load_state_dict(conv.state_dict())
    x = torch.randn(1, 2, 3, 5, 5)
    torch.testing.assert_close(conv(x), reference(x))


def test_classifier_takes_uint8_and_float_clips():
    model = InflatedResNetClassifier("resnet10t", num_classes=3).eval()
    clips = torch.randint(0, 256, (2, 3, 3, 32, 32), dtype=torch.uint8)  # (B, T, 3, H, W)
    with torch.no_grad():
        logits = model(clips)
        torch.testing.assert_close(model(clips.float() / 255.0), logits)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


def test_3d_checkpoint_loads_all_but_the_head(tmp_path):
    source = InflatedResNetClassifier("resnet10t", num_classes=339)
    state = {f"module.{k}": v for k, v in source.backbone.state_dict().items()}
    torch.save({"epoch": 3, "arch": "resnet3d10t", "state_dict": state}, tmp_path / "activity.pth.tar")
    model = InflatedResNetClassifier("resnet10t", num_classes=3, weights=tmp_path / "activity.pth.tar")
    torch.testing.assert_close(model.backbone.layer3[0].conv2.weight, source.backbone.layer3[0].conv2.weight)
    assert model.backbone.fc.out_features == 3


def test_3d_checkpoint_shape_mismatch_is_one_line(tmp_path):
    flat = InflatedResNetClassifier("resnet10t", time_kernel=1)
    torch.save(flat.backbone.state_dict(), tmp_path / "flat.pt")
    model = InflatedResNetClassifier("resnet10t")
    with pytest.raises(DataError, match=r"flat\.pt: conv1\.0\.weight has shape \(24, 3, 1, 3, 3\)") as err:
        model.load_3d_checkpoint(tmp_path / "flat.pt")
    assert "\n" not in str(err.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt: not a readable"):
        model.load_3d_checkpoint(tmp_path / "junk.pt")
