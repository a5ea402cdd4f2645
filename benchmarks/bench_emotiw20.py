"""EmotiW 2020 system on built-in audio-video data: video alone, audio alone, SVM-fused, over seeds.

Generates SynthGroups with audio (``vemd synth --audio``: half of the clips show their class only
in the drawn group, half only in the voices; Bayes accuracy video 2/3, audio 2/3, both 8/9) unless
``--data`` already holds it, then for each seed trains the system with the built-in recipe
(``systems/emotiw20_synth``: 3D ResNet-18, Bi-LSTM, SVM on 3-fold out-of-fold probabilities)
and tests it on the test split. Prints test accuracy per branch, mean ± sd over seeds.

    .venv/bin/python benchmarks/bench_emotiw20.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="runs/bench_emotiw20/data")
    parser.add_argument("--out", default="runs/bench_emotiw20")
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-val", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    from vemd.config import load_config
    from vemd.eval.group_size import DEFAULT_EDGES
    from vemd.synth import generate_dataset
    from vemd.systems import TestOptions, evaluate, fit

    start = time.perf_counter()
    cfg0 = load_config("systems/emotiw20_synth")
    data = Path(args.data)
    generate_dataset(
        data,
        n_train=args.n_train,
        n_val=args.n_val,
        n_test=args.n_test,
        frames=cfg0.data.frames,
        image_size=cfg0.model.image_size,
        audio=True,
        workers=2,
    )
    figures: dict[str, list[float]] = {"video": [], "audio": [], "fused": []}
    for seed in args.seeds:
        out = Path(args.out) / f"seed{seed}"
        cfg = load_config(
            "systems/emotiw20_synth",
            [f"data.root={data}", f"train.out_dir={out}", f"train.seed={seed}", *args.set],
        )
        fit(cfg, resume=True)
        result = evaluate(out / "model.pt", TestOptions(split="test", group_sizes=DEFAULT_EDGES))
        for name in figures:
            figures[name].append(result["modalities"][name]["accuracy"])
        print(
            f"seed {seed}: " + ", ".join(f"{n} {v[-1] * 100:.1f} %" for n, v in figures.items()), flush=True
        )
    summary = {
        name: {"mean": statistics.mean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0, "runs": v}
        for name, v in figures.items()
    }
    print(f"EmotiW 2020 system, built-in AV data, test split ({args.n_test} clips), seeds {args.seeds}:")
    for name, s in summary.items():
        print(f"  {name:6s} {s['mean'] * 100:.2f} ± {s['sd'] * 100:.2f} %")
    print(f"  {time.perf_counter() - start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
