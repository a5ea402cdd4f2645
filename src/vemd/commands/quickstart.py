"""``vemd quickstart [--out DIR]``: generate, train, evaluate, predict, report."""

from __future__ import annotations

import argparse

HELP = "Run the whole pipeline on built-in SynthGroups data and write a report (CPU, minutes)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (resumes if it exists; default "
        "runs/quickstart, runs/quickstart_multimodal with --multimodal)",
    )
    parser.add_argument(
        "--multimodal",
        action="store_true",
        help="video + audio + their fusion on SynthGroups with audio (paper §7): three accuracies",
    )
    parser.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="training scenes (10000; with --multimodal, 5000 scenes with audio)",
    )
    parser.add_argument(
        "--n-video", type=int, default=10000, help="with --multimodal: scenes the VE-MD is trained on"
    )
    parser.add_argument(
        "--video-model",
        default=None,
        metavar="MODEL_PT",
        help="with --multimodal: freeze this VE-MD (e.g. runs/quickstart/run/model.pt) instead of training one",
    )
    parser.add_argument("--n-val", type=int, default=600, help="validation scenes")
    parser.add_argument(
        "--audit-identities",
        type=int,
        default=10,
        metavar="K",
        help="privacy audit of the trained model on K recurring built-in people (0: no audit)",
    )
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

    from vemd.errors import VemdError
    from vemd.quickstart import run_multimodal_quickstart, run_quickstart

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run = run_multimodal_quickstart if args.multimodal else run_quickstart
    args.out = args.out or ("runs/quickstart_multimodal" if args.multimodal else "runs/quickstart")
    n_train = args.n_train or (5000 if args.multimodal else 10000)
    extra = (
        {"video_model": args.video_model, "n_video": args.n_video}
        if args.multimodal
        else {"audit_identities": args.audit_identities}
    )
    if args.video_model and not args.multimodal:
        raise VemdError("--video-model applies to --multimodal only")
    summary = run(
        args.out, n_train=n_train, n_val=args.n_val, seed=args.seed, overrides=args.overrides, **extra
    )
    print(json.dumps(summary, indent=2))
    print(f"report: {args.out}/report.md")
    return 0
