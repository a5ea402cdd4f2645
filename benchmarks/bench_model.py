"""Forward throughput of VE-MD (frames/s) in fp32 and bf16 autocast, and how close it runs to the CPU's matmul peak.

Default: the paper-size VE-MD-SR-Heatmap (ViT-L/16 + ResNet-50, body+face SR, T=5), batch 8
clips. On a 2-core CPU a batch of 8 clips takes minutes per forward: shorten with
``--batch 1 --clips 1``. Random weights (throughput does not depend on them).

    .venv/bin/python benchmarks/bench_model.py --batch 1 --clips 2
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vemd.config import load_config
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
    parser.add_argument("--batch", type=int, default=8, help="clips per forward pass")
    parser.add_argument("--clips", type=int, default=16, help="clips measured per precision")
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
    batch = torch.randn(args.batch, args.frames, 3, m.image_size, m.image_size)
    iterations = math.ceil(args.clips / args.batch)
    flops = gflops_per_frame(model, batch[:1])
    print(
        f"{args.config}: {m.mode} {m.decoder} {m.sr.modalities} vit={m.vit.name} cnn={m.cnn.name}; "
        f"batch {args.batch}×{args.frames} frames, {iterations} timed forward(s) per precision, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"forward cost: {flops:.1f} GFLOP/frame")
    for name, dtype, bf16 in (("fp32", torch.float32, False), ("bf16", torch.bfloat16, True)):
        peak = matmul_gflops(dtype)
        fps = frames_per_second(model, batch, iterations, bf16)
        achieved = fps * flops
        print(
            f"{name}: {fps:.2f} frames/s ({fps / args.frames:.2f} clips/s), {achieved:.0f} GFLOP/s achieved, "
            f"matmul peak {peak:.0f} GFLOP/s, ratio {achieved / peak:.2f}"
        )


if __name__ == "__main__":
    main()
