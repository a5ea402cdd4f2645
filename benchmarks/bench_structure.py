"""Does structural supervision help on SynthGroups? VE-SD vs VE-MD vs VE-MD-SR (heatmap, raw / projected SR).

Each mode trains the quickstart recipe for the same number of epochs, for several seeds,
on one SynthGroups set; prints validation accuracy mean ± sd and the wall time per run
(so the comparison can be read at equal epochs and at equal time).

    .venv/bin/python benchmarks/bench_structure.py --data runs/quickstart/data --epochs 3 --seeds 3
    .venv/bin/python benchmarks/bench_structure.py --data runs/quickstart/data --modes sr-proj
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from vemd.config import load_config
from vemd.systems import evaluate, fit

# key: (printed name, overrides of the quickstart recipe)
MODES = {
    "sd": ("VE-SD", ["model.mode=ve-sd"]),
    "md": ("VE-MD", ["model.mode=ve-md"]),
    "sr-raw": ("VE-MD-SR (raw)", ["model.mode=ve-md-sr", "model.sr.projection=null"]),
    "sr-proj": ("VE-MD-SR (proj 2)", ["model.mode=ve-md-sr", "model.sr.projection=2.0"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a SynthGroups folder (e.g. from vemd quickstart)")
    parser.add_argument("--out", default="runs/bench_structure")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=["sd", "md", "sr-raw"])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rows = {}
    for key in args.modes:
        name, mode = MODES[key]
        for seed in range(args.seeds):
            out = Path(args.out) / f"{key}-seed{seed}"
            cfg = load_config(
                "quickstart",
                [
                    f"data.root={args.data}",
                    f"train.out_dir={out}",
                    f"train.seed={seed}",
                    f"train.max_epochs={args.epochs}",
                ]
                + mode
                + args.overrides,
            )
            start = time.perf_counter()
            model = fit(cfg, resume=True)["model"]
            seconds = time.perf_counter() - start
            accuracy = evaluate(model, split="val", out_dir=out / "eval")["accuracy"]
            rows.setdefault(name, []).append((accuracy, seconds))
            print(
                json.dumps({"mode": name, "seed": seed, "val_accuracy": accuracy, "train_s": round(seconds)}),
                flush=True,
            )
    print(f"\nSynthGroups validation accuracy, {args.epochs} epochs, {args.seeds} seeds")
    for name, results in rows.items():
        accs = [100 * a for a, _ in results]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(
            f"{name:16s} {statistics.mean(accs):5.1f} ± {sd:4.1f} %   {statistics.mean(s for _, s in results):5.0f} s/run"
        )


if __name__ == "__main__":
    main()
