"""``vemd test --ckpt CKPT [--config FILE] [--split val|test] [--out DIR]``."""

from __future__ import annotations

import argparse

from vemd.commands.common import add_config_arguments, config_overrides

HELP = "Evaluate a trained model: accuracy with Wilson CI, F1, UAR, WAR, confusion, predictions."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, required=False)
    parser.add_argument("--ckpt", required=True, help="model.pt (or a fit checkpoint)")
    parser.add_argument("--split", default="val", help="split to evaluate (val, test, ...)")
    parser.add_argument("--out", default=None, help="report folder (default: <ckpt folder>/test-<split>)")


def run(args: argparse.Namespace) -> int:
    import json
    import logging
    from pathlib import Path

    from vemd.config import load_config
    from vemd.eval.evaluate import evaluate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_cfg = load_config(args.config, config_overrides(args)) if args.config else None
    out = Path(args.out) if args.out else Path(args.ckpt).parent / f"test-{args.split}"
    metrics = evaluate(args.ckpt, split=args.split, out_dir=out, data_cfg=data_cfg)
    keys = ("accuracy", "accuracy_ci95", "f1_weighted", "f1_macro", "uar", "war", "num_items")
    print(json.dumps({k: metrics[k] for k in keys} | {"report": str(out)}, indent=2))
    return 0
