"""Heatmap structural decoder (paper §3.2.2, Table 18): UNetResUpsample, then a multi-stage limbs decoder.

One decoder per SR modality predicts one 56×56 limb heatmap per limb channel (18 body,
83 face). The limbs decoder is a chain of stages of 3×3 convs at constant width (§4.3: six
stages of five 256 → 256 layers); every stage predicts heatmaps through its own 1×1 head and,
by default, every stage is supervised (see :class:`LimbsDecoder`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(channels: int, repeat: int = 2) -> nn.Sequential:
    """``repeat`` × (3×3 conv + BN + ReLU) at constant width."""
    layers = []
    for _ in range(repeat):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(True),
        ]
    return nn.Sequential(*layers)


class ResUp(nn.Module):
    """Residual ×2 up-sampling block: (N, C_in, h, w) → (N, C_out, 2h, 2w).

    Main path: nearest ×2 → 3×3 conv → BN → ELU → 3×3 conv → BN; skip: nearest ×2 → 1×1 conv; sum → ELU.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ELU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.skip = nn.Conv2d(in_channels, out_channels, 1)
        self.act = nn.ELU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.act(self.main(x) + self.skip(x))


class UNetResUpsample(nn.Module):
    """Table 18: latent (N, d, s, s) → features (N, out_channels, 8s, 8s).

    ``widths`` = [w5, w4, w3, w2] is [2048, 512, 256, 128] in the paper:
    up5 1×1 d→w5; up4 ResUp w5→w4 (2s); dec4; up3 ConvT 2×2/2 w4→w3 (4s); dec3;
    up2 ConvT 2×2/2 w3→w2 (8s); dec2; up1 ConvT 1×1 w2→w2; dec1; final 1×1 w2→out.
    Each dec is 2 × (3×3 conv + BN + ReLU).
    """

    def __init__(self, in_channels: int, out_channels: int, widths: list[int] | tuple[int, ...]) -> None:
        super().__init__()
        w5, w4, w3, w2 = widths
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, w5, 1),
            ResUp(w5, w4),
            conv_bn_relu(w4),
            nn.ConvTranspose2d(w4, w3, 2, stride=2),
            conv_bn_relu(w3),
            nn.ConvTranspose2d(w3, w2, 2, stride=2),
            conv_bn_relu(w2),
            nn.ConvTranspose2d(w2, w2, 1),
            conv_bn_relu(w2),
            nn.Conv2d(w2, out_channels, 1),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.layers(latent)


def limb_stage(channels: int, num_layers: int) -> nn.Sequential:
    """``num_layers`` × (3×3 conv, stride 1, pad 1 + ReLU), ``channels`` → ``channels`` (§4.3: 256 → 256).

    PyTorch's default initialisation, as the released code. He initialisation keeps the
    activation scale through the 30 chained layers of the paper-size decoder, but with it the
    quickstart recipe (same seed) stayed at chance (ln 3) for all 6 epochs, against 87 %
    validation accuracy at epoch 4 with the default; every stage has its own supervised head,
    so early stages get gradient whatever the depth.
    """
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class LimbsDecoder(nn.Module):
    """Features (N, C, H, W) → per-stage limb heatmap logits, a tuple of ``num_stages`` × (N, L, H, W).

    §4.3: six stages, each of five 3×3 conv layers with input = output = 256 channels. The
    stages chain in feature space: stage s reads the (N, C, H, W) features stage s − 1 wrote
    (stage 1 reads the UNet's), so each stage refines the previous one, as OpenPose's stages
    do, while keeping the paper's 256 → 256 shape (OpenPose and the former vemd fed the
    previous heatmaps back as extra input channels, 256 + L). Each stage ends in its own 1×1
    conv C → L head, so every stage predicts heatmaps and can be supervised (the released
    ``DecoderOpenPose`` sums the MSE of every stage). The released code's stages do not chain:
    all six read the same UNet features, with four 3×3 layers and the 1×1 head as the fifth.
    """

    def __init__(self, channels: int, num_limbs: int, num_stages: int, layers_per_stage: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(limb_stage(channels, layers_per_stage) for _ in range(num_stages))
        self.heads = nn.ModuleList(nn.Conv2d(channels, num_limbs, 1) for _ in range(num_stages))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = []
        for stage, head in zip(self.stages, self.heads):
            features = stage(features)  # (N, C, H, W)
            outputs.append(head(features))  # (N, L, H, W)
        return tuple(outputs)


SUPERVISION = ("all", "last")


class HeatmapDecoder(nn.Module):
    """Latent (N, d, s, s) → limb heatmaps at 8s × 8s for one modality.

    Output dict: ``pred_heatmaps`` (N, L, 8s, 8s) logits of the last stage and ``pred_stages``
    (all stages). Heatmaps are ``sigmoid(logits)`` in [0, 1], matching the rendered targets.

    Args:
        supervision: ``all`` (every stage's MSE enters L_p, summed, as released) or ``last``.
    """

    def __init__(self, unet: UNetResUpsample, limbs: LimbsDecoder, *, supervision: str = "all") -> None:
        super().__init__()
        if supervision not in SUPERVISION:
            raise ValueError(f"supervision={supervision!r}: expected one of {SUPERVISION}")
        self.unet = unet
        self.limbs = limbs
        self.supervision = supervision

    def forward(
        self, latent: torch.Tensor, num_frames: int = 1
    ) -> dict[str, torch.Tensor | tuple[torch.Tensor, ...]]:
        """Latent (N, C, s, s) → per-frame heatmap logits; frames are independent (``num_frames`` unused)."""
        stages = self.limbs(self.unet(latent))
        return {"pred_heatmaps": stages[-1], "pred_stages": stages}

    @staticmethod
    def sr_features(out: dict) -> torch.Tensor:
        """Raw SR (N, H·W): sigmoid of the last stage summed over limb channels, as released."""
        return torch.sigmoid(out["pred_heatmaps"]).sum(1).flatten(1)

    @property
    def term_names(self) -> tuple[str, ...]:
        """Loss terms, one per stage: ``loss_heatmap_stage1`` …, the last stage ``loss_heatmap``."""
        num_stages = len(self.limbs.stages)
        return tuple(f"loss_heatmap_stage{s}" for s in range(1, num_stages)) + ("loss_heatmap",)

    @property
    def supervised_terms(self) -> tuple[str, ...]:
        """The terms that enter L_p (each with weight 1): every stage, or the last."""
        return self.term_names if self.supervision == "all" else self.term_names[-1:]

    def loss(
        self, out: dict, targets: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Per-stage MSE between sigmoid heatmaps and targets (N, L, H, W) in [0, 1].

        Returns the unweighted terms (named by :attr:`term_names`) and no diagnostics.
        """
        terms = {
            name: F.mse_loss(torch.sigmoid(logits.float()), targets.float())
            for name, logits in zip(self.term_names, out["pred_stages"])
        }
        return terms, {}
