"""Stage-2 training step of the paper-size model with and without the frozen-ViT feature cache.

ViT-L/16 + ResNet-50, Heatmap decoder, body SR, T = 5, random weights (speed only).
Both variants run in the same process on the same batch; the cache variant reads the
ViT tokens back from an on-disk FeatureCache (a hit), as every epoch after the first does.

The cache saves the frozen ViT's forward only; the rest of the step (the CNN branch, the heatmap
decoder's stages at 256 channels, every backward pass) is still computed. The best speed-up it
can give is therefore the ratio of the two steps' FLOPs, counted here with torch's
FlopCounterMode; the benchmark prints the measured speed-up beside that ratio.

    .venv/bin/python benchmarks/bench_feature_cache.py [--clips 1] [--repeats 3] [--precision auto]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vemd.config import load_config
from vemd.device import choose_precision
from vemd.structure.skeleton import skeleton_for
from vemd.train.feature_cache import FeatureCache
from vemd.train.module import VEMDModule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1)
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="auto: as vemd.device picks it here",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    # random weights: speed does not depend on them, and no hub lookup is attempted
    offline = ["model.vit.pretrained=false", "model.cnn.pretrained=false"]
    cfg = load_config("default", [f"data.frames={args.frames}", *offline, *args.overrides])
    module = VEMDModule(cfg, ["Negative", "Neutral", "Positive"], stage="2")
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], 1e-5)
    size = cfg.model.image_size
    batch = {
        "frames": torch.randint(0, 255, (args.clips, args.frames, 3, size, size), dtype=torch.uint8),
        "label": torch.zeros(args.clips, dtype=torch.long),
        "clip_id": [f"clip{i}" for i in range(args.clips)],
        "target_mask": torch.ones(args.clips, args.frames, dtype=torch.bool),
        "heatmaps": {
            m: torch.rand(args.clips, args.frames, skeleton_for(m, "heatmap").num_limbs, 56, 56)
            for m in cfg.model.sr.modalities
        },
    }
    precision = choose_precision(args.precision, torch.device("cpu"))
    bf16 = precision.dtype == torch.bfloat16

    def step() -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            terms, _, _ = module.losses(batch, auxiliary=True)
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        return time.perf_counter() - start

    def step_flops() -> float:
        with FlopCounterMode(display=False) as counter:
            step()
        return counter.get_total_flops()

    with tempfile.TemporaryDirectory() as folder:
        variants = {"no cache": None, "cache": FeatureCache(folder, module.model.encoder.vit_branch.vit, {})}
        flops, times = {}, {name: [] for name in variants}
        for name, cache in variants.items():
            module.feature_cache = cache
            step()  # warm-up; fills the cache
            flops[name] = step_flops()
        for _ in range(args.repeats):  # alternated, so that load on the machine slows both alike
            for name, cache in variants.items():
                module.feature_cache = cache
                times[name].append(step())
    results = {name: statistics.median(t) for name, t in times.items()}
    frames = args.clips * args.frames
    print(
        f"paper-size stage-2 step ({cfg.model.vit.name} + {cfg.model.cnn.name}, heatmap {cfg.model.sr.modalities}),"
    )
    print(
        f"{args.clips} clip(s) x {args.frames} frames, {precision.reason}, {torch.get_num_threads()} threads"
    )
    for name, seconds in results.items():
        print(
            f"{name:9s}: {seconds:7.2f} s/step  {frames / seconds:6.2f} frames/s  "
            f"{flops[name] / 1e9:8.0f} GFLOP/step (forward + backward)"
        )
    measured, predicted = results["no cache"] / results["cache"], flops["no cache"] / flops["cache"]
    print(
        f"speed-up from the cache: {measured:.2f}x measured, {predicted:.2f}x by FLOP count "
        f"(measured / predicted {measured / predicted:.2f})"
    )


if __name__ == "__main__":
    main()
