"""ABAW 2024 system on built-in valence/arousal data, and the KELM's fit time against its size.

Generates SynthGroups with per-frame valence/arousal (``vemd synth --va``) unless ``--data``
already holds it, trains the system with a built-in recipe (``systems/abaw24_synth_vemd``: the
quickstart VE-MD of ``make demo`` as frozen backbone; ``systems/abaw24_synth``: a small CNN
trained from scratch) and
prints the test split's frame-wise CCC (valence, arousal, mean) of the static model, the dynamic
model, functionals + KELM and their Dirichlet fusion. Then fits a KELM (RBF kernel, C = 1) on
N random windows of 384 features (the recipe's 128-d embeddings × mean/min/max) for growing N
and prints the wall time of each fit (the kernel matrix is N × N: time grows about as N³).

    .venv/bin/python benchmarks/bench_abaw24.py
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np


def kelm_times(sizes: list[int], features: int = 384, seed: int = 0) -> list[tuple[int, float]]:
    from vemd.systems.abaw24.kelm import KELM

    rng = np.random.default_rng(seed)
    out = []
    for n in sizes:
        x, t = rng.normal(size=(n, features)), rng.uniform(-1, 1, size=(n, 2))
        begin = time.perf_counter()
        KELM(1.0, "rbf").fit(x, t)
        out.append((n, time.perf_counter() - begin))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipe",
        default="systems/abaw24_synth_vemd",
        help="systems/abaw24_synth_vemd (after make demo: the quickstart VE-MD as backbone) or systems/abaw24_synth",
    )
    parser.add_argument("--data", default="runs/bench_abaw24/data")
    parser.add_argument("--out", default="runs/bench_abaw24/run")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-val", type=int, default=300)
    parser.add_argument("--n-test", type=int, default=600)
    parser.add_argument("--kelm-sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000, 8000])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from vemd.config import load_config
    from vemd.synth import generate_dataset
    from vemd.systems import TestOptions, evaluate, fit

    start = time.perf_counter()
    cfg = load_config(args.recipe, [f"data.root={args.data}", f"train.out_dir={args.out}", *args.set])
    generate_dataset(
        args.data,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
        frames=cfg.data.frames,
        image_size=cfg.model.image_size,
        va=True,
        workers=2,
    )
    fit(cfg, resume=True)
    result = evaluate(Path(args.out) / "model.pt", TestOptions(split="test"))
    print(
        f"ABAW 2024 system, built-in data, test split ({args.n_test} clips × {cfg.data.frames} frames), CCC:"
    )
    print(f"  {'model':8s} valence  arousal  mean")
    for name, m in result["models"].items():
        print(f"  {name:8s} {m['valence_ccc']:.3f}    {m['arousal_ccc']:.3f}    {m['mean_ccc']:.3f}")
    trained = time.perf_counter() - start
    print(f"  {trained:.0f} s (generation, training, test)")
    times = kelm_times(args.kelm_sizes)
    print("KELM fit time (RBF, 384 features):")
    for n, seconds in times:
        print(f"  {n:6d} windows  {seconds:.3f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"test": result["models"], "kelm_fit_s": times}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
