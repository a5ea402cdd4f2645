"""``vemd quickstart [--out DIR]``: generate, train, evaluate, predict, report."""

from __future__ import annotations

import argparse

HELP = "Run the whole pipeline on built-in SynthGroups data and write a report (CPU, minutes)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/quickstart", help="output folder (resumes if it exists)")
    parser.add_argument("--n-train", type=int, default=10000, help="training scenes")
    parser.add_argument("--n-val", type=int, default=600, help="validation scenes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the recipe",
    )


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    from vemd.quickstart import run_quickstart

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = run_quickstart(
        args.out, n_train=args.n_train, n_val=args.n_val, seed=args.seed, overrides=args.overrides
    )
    print(json.dumps(summary, indent=2))
    print(f"report: {args.out}/report.md")
    return 0
