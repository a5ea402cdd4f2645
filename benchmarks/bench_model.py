"""Forward throughput of VE-MD (frames/s) in fp32 and bf16 autocast, and how close it runs to the CPU's matmul peak.

Default: the paper-size VE-MD-SR-Heatmap (ViT-L/16 + ResNet-50, body+face SR, T=5) at batch 1
and 8 clips, each precision's frames/s as a fraction of the matmul peak of the same precision
measured in the same run; the row of the precision ``auto`` picks here (vemd.device) is marked.
Random weights (throughput does not depend on them). About 3 minutes on 2 cores.

    .venv/bin/python benchmarks/bench_model.py [--batches 1 8] [--clips 8]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vemd.config import load_config
from vemd.device import choose_precision
from vemd.models import build_model

PAPER = ["model.sr.modalities=[body,face]", "model.vit.pretrained=false", "model.cnn.pretrained=false"]


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Median GFLOP/s of an n×n matmul."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / sorted(times)[len(times) // 2] / 1e9


def gflops_per_frame(model, clip: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(clip)
    return counter.get_total_flops() / (clip.shape[0] * clip.shape[1]) / 1e9


def frames_per_second(model, batch: torch.Tensor, iterations: int, bf16: bool) -> float:
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        model(batch[:1])
        start = time.perf_counter()
        for _ in range(iterations):
            model(batch)
        elapsed = time.perf_counter() - start
    return iterations * batch.shape[0] * batch.shape[1] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8], help="clips per forward pass")
    parser.add_argument(
        "--clips", type=int, default=8, help="clips timed per batch size and precision (≥ batch)"
    )
    parser.add_argument("--frames", type=int, default=5, help="frames per clip (T)")
    parser.add_argument("--no-channels-last", action="store_true")
    args = parser.parse_args()

    cfg = load_config(args.config, PAPER + args.set if args.config == "default" else args.set)
    m = cfg.model
    torch.manual_seed(0)
    model = build_model(m).eval()
    if not args.no_channels_last:  # the 2-D convolutions' weights; the decoder's 5-D ones stay as they are
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.to(memory_format=torch.channels_last)
    flops = gflops_per_frame(model, torch.randn(1, args.frames, 3, m.image_size, m.image_size))
    auto = choose_precision("auto", torch.device("cpu"))
    print(
        f"{args.config}: {m.mode} {m.decoder} {m.sr.modalities} vit={m.vit.name} cnn={m.cnn.name}; "
        f"{args.frames} frames per clip, {torch.get_num_threads()} threads"
    )
    print(f"forward cost: {flops:.1f} GFLOP/frame; precision auto here: {auto.reason}")
    peaks = {
        name: matmul_gflops(dtype) for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    for batch_size in args.batches:
        batch = torch.randn(batch_size, args.frames, 3, m.image_size, m.image_size)
        iterations = max(1, math.ceil(args.clips / batch_size))
        for name, peak in peaks.items():
            fps = frames_per_second(model, batch, iterations, name == "bf16")
            achieved = fps * flops
            mark = "  <- auto" if name == auto.name else ""
            print(
                f"batch {batch_size} {name}: {fps:.2f} frames/s ({fps / args.frames:.2f} clips/s), "
                f"{achieved:.0f} GFLOP/s achieved, matmul peak {peak:.0f} GFLOP/s, ratio {achieved / peak:.2f}{mark}"
            )


if __name__ == "__main__":
    main()
