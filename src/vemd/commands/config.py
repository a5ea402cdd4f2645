"""``vemd config show RECIPE [--set KEY=VALUE ...]``: the resolved config a run would use.

The schema's defaults, then the recipe after its ``base:`` recipes, then the overrides, and the
run folder a recipe that names none trains into (:func:`vemd.config.load_config`, as ``vemd
fit --config RECIPE --set ...`` resolves it), printed as the YAML ``vemd fit`` saves as
``config.yaml``. A bad recipe or override is one line, as ``vemd fit`` would say it.
"""

from __future__ import annotations

import argparse

HELP = "Show the resolved config of a recipe (defaults, bases, overrides), as vemd fit would use it."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        help="print the resolved YAML of a recipe with its --set overrides",
        description="Print the resolved YAML of a recipe with its --set overrides (what vemd fit saves "
        "as config.yaml).",
    )
    show.add_argument("recipe", metavar="RECIPE", help="recipe YAML file or registered name (e.g. tiny)")
    show.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="dotted override"
    )


def run(args: argparse.Namespace) -> int:
    from vemd.config import load_config, to_yaml

    print(to_yaml(load_config(args.recipe, args.overrides)), end="")
    return 0
