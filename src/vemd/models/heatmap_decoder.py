"""Heatmap structural decoder (paper §3.2.2, Table 18): UNetResUpsample, then a multi-stage limbs decoder.

One decoder per SR modality predicts one 56×56 limb heatmap per limb channel (18 body,
83 face). The limbs decoder refines OpenPose-style: stage 1 sees the upsampled features,
every later stage sees them concatenated with the previous stage's heatmaps.
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


def limb_stage(in_channels: int, channels: int, num_limbs: int, num_layers: int) -> nn.Sequential:
    """``num_layers - 1`` × (3×3 conv + ReLU) then a 1×1 conv to ``num_limbs`` heatmap logits."""
    layers: list[nn.Module] = []
    for i in range(num_layers - 1):
        layers += [nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1), nn.ReLU(True)]
    layers.append(nn.Conv2d(channels if num_layers > 1 else in_channels, num_limbs, 1))
    return nn.Sequential(*layers)


class LimbsDecoder(nn.Module):
    """Features (N, C, H, W) → per-stage limb heatmap logits, a tuple of ``num_stages`` × (N, L, H, W)."""

    def __init__(self, channels: int, num_limbs: int, num_stages: int, layers_per_stage: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            limb_stage(channels if i == 0 else channels + num_limbs, channels, num_limbs, layers_per_stage)
            for i in range(num_stages)
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = [self.stages[0](features)]
        for stage in self.stages[1:]:
            outputs.append(stage(torch.cat([features, outputs[-1]], dim=1)))
        return tuple(outputs)


class HeatmapDecoder(nn.Module):
    """Latent (N, d, s, s) → limb heatmaps at 8s × 8s for one modality.

    Output dict: ``pred_heatmaps`` (N, L, 8s, 8s) logits of the last stage and ``pred_stages``
    (all stages). Heatmaps are ``sigmoid(logits)`` in [0, 1], matching the rendered targets.
    """

    def __init__(self, unet: UNetResUpsample, limbs: LimbsDecoder, *, deep_supervision: bool = False) -> None:
        super().__init__()
        self.unet = unet
        self.limbs = limbs
        self.deep_supervision = deep_supervision

    def forward(
        self, latent: torch.Tensor, num_frames: int = 1
    ) -> dict[str, torch.Tensor | tuple[torch.Tensor, ...]]:
        """Latent (N, C, s, s) → per-frame heatmap logits; frames are independent (``num_frames`` unused)."""
        stages = self.limbs(self.unet(latent))
        return {"pred_heatmaps": stages[-1], "pred_stages": stages}

    @staticmethod
    def sr_features(out: dict) -> torch.Tensor:
        """Raw SR (N, H·W): sigmoid of the last stage summed over limb channels (SPEC §11)."""
        return torch.sigmoid(out["pred_heatmaps"]).sum(1).flatten(1)

    def loss(self, out: dict, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """MSE between sigmoid heatmaps and targets (N, L, H, W) in [0, 1].

        With deep supervision the MSE is averaged over stages, so the weight β keeps its meaning.
        """
        stages = out["pred_stages"] if self.deep_supervision else (out["pred_heatmaps"],)
        losses = [F.mse_loss(torch.sigmoid(s.float()), targets.float()) for s in stages]
        return {"loss_heatmap": torch.stack(losses).mean()}
