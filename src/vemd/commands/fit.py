"""``vemd fit --config FILE [--set KEY=VALUE ...] [--resume | --overwrite]``.

The run goes into ``train.out_dir`` (default: ``runs/<recipe name>``); a folder that holds a
finished run (its ``model.pt``) is refused unless ``--resume`` or ``--overwrite`` says what to do.
"""

from __future__ import annotations

import argparse

from vemd.commands.common import add_config_arguments, config_overrides

HELP = "Train VE-MD (stage 1, stage 2 or both) with Lightning on any device, or a seed system (system.kind)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from <out_dir>/stage*/last.ckpt")
    again.add_argument(
        "--overwrite",
        action="store_true",
        help="train anew into a train.out_dir that holds a finished run (default: refused; "
        "train.out_dir defaults to runs/<recipe name>)",
    )
    parser.add_argument(
        "--folds",
        default=None,
        metavar="all|1,2,...",
        help="cross-validation (DFEW): train each fold into <out_dir>/fold<k>, evaluate it, average UAR/WAR",
    )


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    from vemd.config import load_config
    from vemd.systems import fit

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(args.config, config_overrides(args))
    if args.folds:
        from vemd.systems.folds import fit_folds

        summary = fit_folds(
            args.config, config_overrides(args), args.folds, resume=args.resume, overwrite=args.overwrite
        )
    else:
        summary = fit(cfg, resume=args.resume, overwrite=args.overwrite)
    print(json.dumps(summary, indent=2))
    return 0
