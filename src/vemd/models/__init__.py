"""The VE-MD model: variational encoder, structural decoders, emotion decoder (paper Figure 1)."""

from vemd.models.build import build_criterion, build_model
from vemd.models.criterion import VEMDCriterion
from vemd.models.outputs import VEMDOutput
from vemd.models.vemd import MODES, VEMD

__all__ = ["MODES", "VEMD", "VEMDCriterion", "VEMDOutput", "build_criterion", "build_model"]
