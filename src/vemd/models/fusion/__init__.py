"""Fusion of the video (VE-MD), audio and text branches (paper §7.1.2, §7.2; EmotiW 2023 cross-attention)."""

from vemd.models.fusion.afg import AFG
from vemd.models.fusion.cross_attention import AudioVideoCrossAttention, masked_mean
from vemd.models.fusion.late import LateFusion

__all__ = ["AFG", "AudioVideoCrossAttention", "LateFusion", "masked_mean"]
