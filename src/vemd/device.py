"""The device a model runs on (``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``) and its precision,
for inference, evaluation and training alike.

Precision is autocast over fp32 weights: ``auto`` is bf16 on a GPU that has it (else fp16)
and fp32 elsewhere; ``fp32``, ``bf16`` and ``fp16`` ask for one.
"""

from __future__ import annotations

import contextlib

import torch

from vemd.errors import VemdError


def resolve_device(name: str | torch.device = "cpu") -> torch.device:
    """The torch device ``name`` stands for; ``auto`` picks CUDA, then MPS, then the CPU.

    A device that does not exist here is a one-line VemdError, not an error deep in a forward.
    """
    if str(name) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise VemdError(f"--device {name}: not a device (cpu, cuda, cuda:N, mps or auto)") from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise VemdError(f"--device {name}: no such CUDA device ({count} visible)")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise VemdError(f"--device {name}: MPS is not available here")
    elif device.type != "cpu":
        raise VemdError(f"--device {name}: not a device (cpu, cuda, cuda:N, mps or auto)")
    return device


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype ``precision`` stands for on ``device``; one-line VemdError if unknown."""
    if precision not in PRECISIONS:
        raise VemdError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 / AMX, or Arm BF16).

    Without it PyTorch emulates bf16 matrix products, about 100x slower than fp32 on an
    AVX2-only CPU.
    """
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:
        return False


def autocast(device: torch.device, dtype: torch.dtype):
    """A context running ``device``'s ops in ``dtype`` (nothing for fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
