"""Arguments shared by the commands that take a config."""

from __future__ import annotations

import argparse


def add_config_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--config`` and repeatable ``--set KEY=VALUE`` overrides (VALUE parsed as YAML)."""
    parser.add_argument("--config", required=required, help="recipe YAML file or registered name (e.g. tiny)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="dotted override"
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="log and skip unreadable or invalid items (data.skip_bad=true)",
    )


def config_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides plus those implied by flags."""
    return [*args.overrides, *(["data.skip_bad=true"] if args.skip_bad else [])]
