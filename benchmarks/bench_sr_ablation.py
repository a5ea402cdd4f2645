"""How much does a VE-MD-SR model draw on its SR? Accuracy with the SR gates as trained vs closed.

Closing a gate (setting it to 0) removes that modality's SR from the emotion decoder's input
and leaves every other weight as trained; the McNemar test says whether the predictions differ.

    .venv/bin/python benchmarks/bench_sr_ablation.py --ckpt runs/quickstart/run/model.pt --split val
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from vemd.eval.compare import compare_predictions
from vemd.systems import evaluate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a model.pt of a ve-md-sr model with model.sr.gate")
    parser.add_argument("--split", default="val")
    parser.add_argument("--out", default="runs/bench_sr_ablation")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = torch.load(args.ckpt, map_location="cpu", weights_only=True)
    gates = {k: v for k, v in data["state_dict"].items() if ".sr_gate." in k}
    if not gates:
        print(
            f"{args.ckpt}: no SR gate in this model (not ve-md-sr, or model.sr.gate=false)", file=sys.stderr
        )
        return 1
    for key, value in gates.items():
        print(f"{key.rsplit('.', 1)[-1]} gate as trained: {value.item():+.4f}")
    closed = out / "model_gates_closed.pt"
    data["state_dict"] |= {k: torch.zeros_like(v) for k, v in gates.items()}
    torch.save(data, closed)
    for name, ckpt in (("as_trained", args.ckpt), ("gates_closed", closed)):
        accuracy = evaluate(ckpt, split=args.split, out_dir=out / name)["accuracy"]
        print(f"{name:12s} {args.split} accuracy {100 * accuracy:.2f} %")
    result = compare_predictions(
        out / "as_trained" / "predictions.csv", out / "gates_closed" / "predictions.csv"
    )
    m = result["mcnemar"]
    print(
        f"items right only as trained: {m['b']}, only with the gates closed: {m['c']}; "
        f"McNemar ({m['method']}) p = {m['p_value']:.3g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
