"""The device inference runs on: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``."""

from __future__ import annotations

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
