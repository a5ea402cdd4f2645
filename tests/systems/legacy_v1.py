"""The format-1 model files of vemd 0.1.0 (before the one model-file format), as its writers made them.

Kept so that the reader is tested on the files earlier versions wrote: each function returns the
payload the 0.1.0 writer saved with ``torch.save`` (``models/checkpoint.py: save_model`` and
``save_multimodal``, ``systems: save_system``).
"""

from __future__ import annotations


def vemd_payload(config: dict, class_names: list[str], state_dict: dict, stage: str = "2") -> dict:
    return {
        "format": "vemd-model",
        "format_version": 1,
        "vemd_version": "0.1.0",
        "config": config,
        "class_names": list(class_names),
        "stage": stage,
        "state_dict": state_dict,
    }


def multimodal_payload(
    config: dict,
    class_names: list[str],
    video: dict,
    branches: dict[str, dict],
    text_dim: int | None,
    audio_encoders: dict,
) -> dict:
    """``video``: the VE-MD's own format-1 payload; ``branches``: the trained weights of each branch."""
    return {
        "format": "vemd-multimodal",
        "format_version": 1,
        "vemd_version": "0.1.0",
        "config": config,
        "class_names": list(class_names),
        "video": {key: video[key] for key in ("config", "class_names", "stage", "state_dict")},
        "branches": branches,
        "text_dim": text_dim,
        "audio_encoders": audio_encoders,
    }


def system_payload(kind: str, config: dict, class_names: list[str], state_dict: dict, extra: dict) -> dict:
    return {
        "format": "vemd-system",
        "format_version": 1,
        "vemd_version": "0.1.0",
        "system": kind,
        "config": config,
        "class_names": list(class_names),
        "state_dict": state_dict,
        "extra": extra,
    }
