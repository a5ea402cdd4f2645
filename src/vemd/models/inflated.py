"""Inflated 3D ResNet: the video branch of the EmotiW 2020 audio-video system (§II-B, Fig. 2).

The EmotiW 2020 audio-video group emotion system classifies a clip of frames, concatenated over
time, with a ResNet-50 whose 2D convolutions were made 3D (I3D-style inflation) and which was
pretrained on activity recognition (Multi-Moments in Time, 339 classes); its last layer is
replaced by a 3-way valence layer (§II-B). Ten frames are taken per 5-second clip (§III-C).

:func:`inflate_resnet` turns a 2D timm ResNet into that 3D network:

* every ``Conv2d`` of spatial kernel k×k (k > 1) becomes a ``Conv3d`` t×k×k whose weights are
  the 2D kernel repeated t times over time and divided by t, so a clip of identical frames
  gives, at every time step, exactly the 2D network's activations; 1×1 convolutions stay
  1×1×1 (t = 1);
* ``BatchNorm2d`` becomes ``BatchNorm3d`` with the same affine weights and running statistics;
* the stem max-pool and the average pools of ``avg_down`` shortcuts are inflated alike, and the
  global pool averages over time, height and width.

The paper does not list its time kernels; they are those of the activity network it starts
from (the Multi-Moments in Time ResNet3D-50 of its footnote 1): the 7×7 stem convolution
becomes 7×7×7, every 3×3 convolution becomes 3×3×3, 1×1 convolutions stay 1×1×1
(:data:`RESNET3D50_TIME_KERNEL`); time is halved wherever space is halved except at the stem
convolution (the stem max-pool and the first block of stages 2-4 stride 2 in time too), so 10
frames reach the last stage as 1 time step. ``time_kernel`` and ``downsample_time`` change this.

Time padding must be the one the weights were trained with, since it is not in a state dict:
``"zeros"`` is the zero padding an I3D-style 3D checkpoint (such as the Multi-Moments ResNet3D-50,
a plain ``Conv3d`` network) was trained with; ``"replicate"`` repeats the first and last frames,
which keeps the identical-frames property of an inflated 2D network at the clip ends too. With a
frozen backbone the choice is not learnt away: the 7-frame stem kernel over 10 frames reads 3
padded frames at each end, so the wrong padding shifts the features of every clip.
:class:`InflatedResNetClassifier` follows its weights unless told (:func:`weights_time_padding`);
:func:`inflate_resnet` alone replicates unless told.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from timm.layers import DropPath, SelectAdaptivePool2d
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from vemd.errors import DataError

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
# Time kernel of the k×k (k > 1) convolutions of each stage, as in the Multi-Moments ResNet3D-50.
RESNET3D50_TIME_KERNEL: dict[str, int] = {"stem": 7, "layer1": 3, "layer2": 3, "layer3": 3, "layer4": 3}
TIME_PADDINGS = ("replicate", "zeros")
HEAD_PREFIXES = ("fc.", "last_linear.")  # classifier layers of activity checkpoints, never loaded
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Modules that act frame-wise on (B, C, T, H, W) as they do on (B, C, H, W), or only compose others.
_PASS_THROUGH = (
    nn.Sequential,
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.GELU,
    nn.LeakyReLU,
    nn.ELU,
    nn.Dropout,
    DropPath,
    BasicBlock,
    Bottleneck,
)


class TimeConv3d(nn.Conv3d):
    """``Conv3d`` whose time padding may replicate the end frames (space is zero-padded as in 2D).

    Its state dict is a plain ``Conv3d``'s (``weight``, ``bias``), so 3D checkpoints load as is.
    """

    def __init__(self, *args, time_padding: str = "replicate", device=None, dtype=None, **kwargs) -> None:
        super().__init__(*args, device=device, dtype=dtype, **kwargs)
        self.time_padding = time_padding
        self.time_pad = self.padding[0]
        if time_padding == "replicate":
            self.padding = (0, *self.padding[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        if self.time_padding == "replicate" and self.time_pad:
            x = F.pad(x, (0, 0, 0, 0, self.time_pad, self.time_pad), mode="replicate")
        return super().forward(x)


class GlobalAvgPool3d(nn.Module):
    """(B, C, T, H, W) → (B, C): the mean over time and space."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4))


def weights_time_padding(checkpoint: str | Path | None) -> str:
    """The time padding of a network's weights: ``zeros`` with a 3D ``checkpoint`` (I3D-style,
    such as the Multi-Moments one), ``replicate`` for an inflated 2D network (module docstring)."""
    return "replicate" if checkpoint is None else "zeros"


def _time_kernels(time_kernel: int | Mapping[str, int]) -> dict[str, int]:
    if isinstance(time_kernel, int):
        kernels = dict.fromkeys(STAGES, time_kernel)
    else:
        unknown = sorted(set(time_kernel) - set(STAGES))
        if unknown:
            raise ValueError(f"time_kernel: unknown stages {unknown}, expected some of {', '.join(STAGES)}")
        kernels = {stage: int(time_kernel.get(stage, 1)) for stage in STAGES}
    bad = {stage: t for stage, t in kernels.items() if t < 1 or t % 2 == 0}
    if bad:
        raise ValueError(f"time_kernel must be odd and ≥ 1 (centred in time), got {bad}")
    return kernels


def inflate_conv(conv: nn.Conv2d, time_kernel: int, time_stride: int, time_padding: str) -> TimeConv3d:
    """Conv2d k×k → TimeConv3d t×k×k, the 2D kernel repeated over t and divided by t."""
    if isinstance(conv.padding, str):
        raise ValueError(f"cannot inflate a Conv2d with padding={conv.padding!r}: give it explicit sizes")
    # skip_init: the weights are written below, so the default initialisation would be wasted work.
    conv3d = nn.utils.skip_init(
        TimeConv3d,
        conv.in_channels,
        conv.out_channels,
        kernel_size=(time_kernel, *conv.kernel_size),
        stride=(time_stride, *conv.stride),
        padding=(time_kernel // 2, *conv.padding),
        dilation=(1, *conv.dilation),
        groups=conv.groups,
        bias=conv.bias is not None,
        time_padding=time_padding,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        # (O, I, k, k) → (O, I, t, k, k); the sum over t of the 3D kernel is the 2D kernel.
        conv3d.weight.copy_((conv.weight / time_kernel).unsqueeze(2).expand_as(conv3d.weight))
        if conv.bias is not None:
            conv3d.bias.copy_(conv.bias)
    return conv3d


def inflate_batchnorm(norm: nn.BatchNorm2d) -> nn.BatchNorm3d:
    """BatchNorm2d → BatchNorm3d with the same affine weights and running statistics."""
    norm3d = nn.BatchNorm3d(
        norm.num_features,
        eps=norm.eps,
        momentum=norm.momentum,
        affine=norm.affine,
        track_running_stats=norm.track_running_stats,
    )
    norm3d.load_state_dict(norm.state_dict())
    return norm3d.train(norm.training)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _inflate_pool(pool: nn.MaxPool2d | nn.AvgPool2d, downsample_time: bool) -> nn.Module:
    kernel = _pair(pool.kernel_size)
    stride = _pair(pool.stride or pool.kernel_size)
    padding = _pair(pool.padding)
    if isinstance(pool, nn.MaxPool2d):
        # The stem pool: k×k stride s → k×k×k stride s in time too (or 1×k×k stride 1).
        time_kernel, time_stride = (kernel[0], stride[0]) if downsample_time else (1, 1)
        return nn.MaxPool3d(
            (time_kernel, *kernel),
            stride=(time_stride, *stride),
            padding=(time_kernel // 2, *padding),
            dilation=(1, *_pair(pool.dilation)),
            ceil_mode=pool.ceil_mode,
        )
    # An avg_down shortcut pool: it takes every time_stride-th frame, as a 1×1×1 strided shortcut
    # does, and so gives the main path's time length (and works on a single frame).
    time_stride = stride[0] if downsample_time else 1
    return nn.AvgPool3d(
        (1, *kernel),
        stride=(time_stride, *stride),
        padding=(0, *padding),
        ceil_mode=pool.ceil_mode,
        count_include_pad=pool.count_include_pad,
    )


def inflate_resnet(
    model2d: ResNet,
    *,
    time_kernel: int | Mapping[str, int] = RESNET3D50_TIME_KERNEL,
    downsample_time: bool = True,
    time_padding: str = "replicate",
) -> ResNet:
    """A 3D copy of a 2D timm ResNet: ``forward`` then takes (B, 3, T, H, W), the model2d unchanged.

    ``time_kernel``: the time extent t of the k×k (k > 1) convolutions, one odd int for all, or
    per stage (``stem``, ``layer1`` … ``layer4``; a stage left out keeps t = 1; each of a deep
    stem's 3×3 convolutions takes the stem's t). 1×1 convolutions always stay 1×1×1. ``downsample_time``: stride time by the spatial stride of the stem pool and
    of each stage's first block (never at the stem convolution). ``time_padding``: ``replicate``
    or ``zeros`` (see the module docstring).

    ``forward_features`` gives (B, C, T', H', W'); ``forward_head(x, pre_logits=True)`` the
    time-and-space average (B, C); the classifier ``fc`` is kept as it was.
    """
    if not isinstance(model2d, ResNet):
        raise TypeError(f"inflate_resnet needs a timm ResNet, got {type(model2d).__name__}")
    if time_padding not in TIME_PADDINGS:
        raise ValueError(f"time_padding must be one of {', '.join(TIME_PADDINGS)}, got {time_padding!r}")
    kernels = _time_kernels(time_kernel)
    model = copy.deepcopy(model2d)
    replaced: list[str] = []
    for name, module in list(model.named_modules()):
        if not name or name == "fc" or any(name.startswith(f"{r}.") for r in replaced):
            continue
        stage = name.split(".")[0] if name.startswith("layer") else "stem"
        if isinstance(module, nn.Conv2d):
            k = max(module.kernel_size)
            t = kernels[stage] if k > 1 else 1
            time_stride = module.stride[0] if downsample_time and stage != "stem" else 1
            new = inflate_conv(module, t, time_stride, time_padding)
        elif isinstance(module, nn.BatchNorm2d):
            new = inflate_batchnorm(module)
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            new = _inflate_pool(module, downsample_time)
        elif isinstance(module, SelectAdaptivePool2d) and name == "global_pool":
            if module.pool_type.lower() not in ("avg", "fast", "fastavg"):
                raise ValueError(f"cannot inflate global_pool of type {module.pool_type!r}: only 'avg'")
            new = GlobalAvgPool3d()
        elif isinstance(module, _PASS_THROUGH) and getattr(module, "se", None) is None:
            continue
        else:
            raise ValueError(f"cannot inflate {name} ({type(module).__name__}): not a frame-wise layer")
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, new)
        replaced.append(name)
    return model


class InflatedResNetClassifier(nn.Module):
    """Clips (B, T, 3, H, W) → valence logits (B, num_classes) through an inflated timm ResNet.

    uint8 clips are scaled to [0, 1], float clips are taken as already in [0, 1]; both are then
    normalised with the ImageNet mean and std (the preprocessing of the activity network). The
    backbone is ``timm.create_model(name)`` (ImageNet weights with ``pretrained=True``) inflated by
    :func:`inflate_resnet`, with a new ``num_classes``-way ``fc`` after ``dropout``; ``weights``,
    a 3D activity-recognition state dict file, then replaces everything but that ``fc``
    (:meth:`load_3d_checkpoint`). Softmax of the logits gives the class probabilities (§II-B).
    ``time_padding`` (``zeros`` or ``replicate``; None: :func:`weights_time_padding` of
    ``weights``, zeros for a 3D checkpoint) is kept as ``self.time_padding``.
    """

    def __init__(
        self,
        name: str = "resnet50",
        *,
        num_classes: int = 3,
        pretrained: bool = False,
        weights: str | Path | None = None,
        time_kernel: int | Mapping[str, int] = RESNET3D50_TIME_KERNEL,
        downsample_time: bool = True,
        time_padding: str | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.time_padding = time_padding or weights_time_padding(weights)
        model2d = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, drop_rate=dropout)
        self.backbone = inflate_resnet(
            model2d, time_kernel=time_kernel, downsample_time=downsample_time, time_padding=self.time_padding
        )
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1), persistent=False)
        if weights is not None:
            self.load_3d_checkpoint(weights)

    def preprocess(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) uint8 or float in [0, 1] → normalised (B, 3, T, H, W) float."""
        if clips.ndim != 5 or clips.shape[2] != 3:
            raise ValueError(f"clips must be (B, T, 3, H, W), got {tuple(clips.shape)}")
        x = clips.permute(0, 2, 1, 3, 4)  # (B, 3, T, H, W)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.to(self.pixel_mean.dtype)
        return (x - self.pixel_mean) / self.pixel_std

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) → logits (B, num_classes)."""
        return self.backbone(self.preprocess(clips))

    def load_3d_checkpoint(self, path: str | Path) -> None:
        """Load a 3D activity-recognition state dict into everything but the classifier.

        ``path``: a ``torch.save`` file (read weights-only: nothing in it runs) holding a state
        dict or ``{"state_dict": ...}``, or a ``.safetensors`` file. A ``module.`` prefix
        (DataParallel) is dropped and its classifier (``fc.*``, ``last_linear.*``) ignored. Every
        other backbone tensor must be there with this network's shape (``num_batches_tracked``
        may be absent); any problem is one :class:`DataError` line naming the file.
        """
        state = _read_state_dict(Path(path))
        state = {k.removeprefix("module."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
        expected = {k: v for k, v in self.backbone.state_dict().items() if not k.startswith(HEAD_PREFIXES)}
        missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in state if k not in expected]
        if missing or unexpected:
            raise DataError(
                f"{path}: not a 3D state dict of this network "
                f"(missing {missing[:3]}{'…' if len(missing) > 3 else ''}, "
                f"unexpected {unexpected[:3]}{'…' if len(unexpected) > 3 else ''})"
            )
        for key, tensor in state.items():
            if tuple(tensor.shape) != tuple(expected[key].shape):
                raise DataError(
                    f"{path}: {key} has shape {tuple(tensor.shape)}, this network needs "
                    f"{tuple(expected[key].shape)} (time_kernel or architecture differs)"
                )
        self.backbone.load_state_dict(state, strict=False)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DataError(f"{path}: no such 3D checkpoint file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{path}: not a readable weights-only checkpoint ({type(err).__name__})") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise DataError(f"{path}: holds no state dict (names → tensors)")
    return state
