"""The device a model runs on (``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``) and its precision,
for inference, evaluation and training alike.

Precision is autocast over fp32 weights: ``auto`` is bf16 on a GPU that has it (else fp16);
on a CPU it is bf16 only where a short matmul + convolution probe measured bf16 faster than
fp32 (a CPU may report bf16 support and still run it several times slower: AVX-512 without
AVX-512 BF16 or AMX), else fp32. ``fp32``, ``bf16`` and ``fp16`` ask for one.

The probe takes well under a second and is cached per machine (CPU model and torch
version) in ``$VEMD_CACHE_DIR`` (default ``~/.cache/vemd``); ``VEMD_CPU_BF16_SPEEDUP`` sets its
answer (fp32 time / bf16 time) without measuring, e.g. to pin a machine-independent choice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from vemd.errors import VemdError

log = logging.getLogger(__name__)

# bf16 must be measured at least this much faster than fp32 for ``auto`` to give up fp32's
# precision for it on a CPU
BF16_MIN_SPEEDUP = 1.2
SPEEDUP_ENV = "VEMD_CPU_BF16_SPEEDUP"


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


@dataclass(frozen=True)
class Precision:
    """The compute dtype chosen on a device and why, in one line (for logs and reports)."""

    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def choose_precision(precision: str, device: torch.device) -> Precision:
    """The dtype ``precision`` stands for on ``device`` and why; one-line VemdError if unknown.

    ``auto`` on a CPU follows :func:`cpu_bf16_speedup`; an explicit ``bf16`` on a CPU where it
    measured slower is kept, and says once how much slower.
    """
    if precision not in PRECISIONS:
        raise VemdError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        if dtype == torch.bfloat16 and device.type == "cpu":
            speedup = cpu_bf16_speedup()
            if speedup < 1.0:
                warn_once(
                    f"precision bf16 as asked: this CPU ran bf16 {1 / speedup:.1f}x slower than fp32 "
                    "(matmul + conv probe); auto would pick fp32"
                )
            return Precision(dtype, f"bf16 as asked ({speedup:.2f}x fp32's speed measured on this CPU)")
        return Precision(dtype, f"{precision} as asked")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision(torch.bfloat16, "auto: bf16, supported by this GPU")
        return Precision(torch.float16, "auto: fp16, this GPU has no bf16")
    if device.type != "cpu":
        return Precision(torch.float32, f"auto: fp32 on {device.type} (bf16 not measured there)")
    speedup = cpu_bf16_speedup()
    if speedup >= BF16_MIN_SPEEDUP:
        return Precision(torch.bfloat16, f"auto: bf16, measured {speedup:.1f}x faster than fp32 on this CPU")
    return Precision(
        torch.float32,
        f"auto: fp32, bf16 measured {speedup:.2f}x fp32's speed on this CPU (needs {BF16_MIN_SPEEDUP}x)",
    )


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype ``precision`` stands for on ``device`` (:func:`choose_precision`)."""
    return choose_precision(precision, device).dtype


_said: set[str] = set()


def warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time this process says it."""
    if message not in _said:
        _said.add(message)
        log.warning(message)


def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of a short matmul + 3×3 convolution probe on this CPU (> 1: bf16
    is faster), measured once per machine and cached; ``VEMD_CPU_BF16_SPEEDUP`` overrides it.

    A support flag is not speed: PyTorch reports bf16 support on AVX-512 CPUs without AVX-512
    BF16, where bf16 runs 2-5x slower than fp32 (about 100x on AVX2 only).
    """
    pinned = os.environ.get(SPEEDUP_ENV)
    if pinned:
        try:
            return float(pinned)
        except ValueError as err:
            raise VemdError(f"{SPEEDUP_ENV}={pinned!r}: expected a number (fp32 time / bf16 time)") from err
    key = _machine_key()
    cache = _cache_file()
    cached = _read_cache(cache)
    if key in cached:
        return float(cached[key]["speedup"])
    fp32_ms, bf16_ms = measure_bf16_probe()
    speedup = fp32_ms / bf16_ms
    cached[key] = {"speedup": round(speedup, 3), "fp32_ms": round(fp32_ms, 3), "bf16_ms": round(bf16_ms, 3)}
    try:
        from vemd.io import atomic_write_text

        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps(cached, indent=1, sort_keys=True))
    except OSError:  # a read-only home: measure again next time
        pass
    return speedup


def measure_bf16_probe(budget_s: float = 0.3, max_rounds: int = 15) -> tuple[float, float]:
    """Milliseconds of one probe (a 256² matmul and a 3×3 conv 64→64 on 1×64×28×28: the work of
    a ViT block and of a CNN or decoder stage) in fp32 and under bf16 autocast, on one thread.

    One thread measures what the CPU's instructions do for each precision; several threads on a
    busy machine measure mostly their waits for each other. After one warm-up of each, rounds
    alternate fp32 and bf16 (so that load slows both alike) until ``budget_s`` has passed (at
    least two rounds); each precision keeps its best time.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(256, 256, generator=generator)
    b = torch.randn(256, 256, generator=generator)
    x = torch.randn(1, 64, 28, 28, generator=generator)
    w = torch.randn(64, 64, 3, 3, generator=generator)
    cpu = torch.device("cpu")

    def timed(dtype: torch.dtype) -> float:
        with autocast(cpu, dtype):
            start = time.perf_counter()
            a @ b
            torch.nn.functional.conv2d(x, w, padding=1)
            return (time.perf_counter() - start) * 1e3

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _best_times(timed, budget_s, max_rounds)
    finally:
        torch.set_num_threads(threads)


def _best_times(timed, budget_s: float, max_rounds: int) -> tuple[float, float]:
    with torch.inference_mode():
        timed(torch.float32), timed(torch.bfloat16)
        best = {torch.float32: float("inf"), torch.bfloat16: float("inf")}
        start = time.perf_counter()
        for round_ in range(max_rounds):
            for dtype in best:
                best[dtype] = min(best[dtype], timed(dtype))
            if round_ >= 1 and time.perf_counter() - start > budget_s:
                break
    return best[torch.float32], best[torch.bfloat16]


def _machine_key() -> str:
    """What the probe's answer depends on: the CPU and torch."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} | torch {torch.__version__}"


def _cache_file() -> Path:
    root = os.environ.get("VEMD_CACHE_DIR") or Path.home() / ".cache" / "vemd"
    return Path(root) / "cpu_precision.json"


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def autocast(device: torch.device, dtype: torch.dtype):
    """A context running ``device``'s ops in ``dtype`` (nothing for fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
