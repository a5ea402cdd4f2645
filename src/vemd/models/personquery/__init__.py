"""PersonQuery structural decoder (paper §3.2.1) and its Hungarian matcher."""

from vemd.models.personquery.decoder import PersonQueryDecoder
from vemd.models.personquery.matcher import hungarian_match, limb_cost, pad_targets

__all__ = ["PersonQueryDecoder", "hungarian_match", "limb_cost", "pad_targets"]
