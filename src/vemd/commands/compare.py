"""``vemd compare A/predictions.csv B/predictions.csv``: accuracies and a McNemar test."""

from __future__ import annotations

import argparse

HELP = "Compare two systems' predictions.csv on the same items (Wilson intervals, two-sided McNemar test)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("predictions_a", help="predictions.csv of system A")
    parser.add_argument("predictions_b", help="predictions.csv of system B (same items)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from vemd.eval.compare import compare_predictions

    result = compare_predictions(args.predictions_a, args.predictions_b)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        _print_table(result)
    return 0


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    test = result["mcnemar"]
    table = Table(title=f"McNemar comparison on {result['num_items']} items")
    table.add_column("system")
    table.add_column("predictions", overflow="fold")
    table.add_column("accuracy", justify="right")
    table.add_column("95% Wilson CI", justify="right")
    table.add_column("only this one right", justify="right")
    for name, key, discordant in (("A", "system_a", test["b"]), ("B", "system_b", test["c"])):
        system = result[key]
        low, high = system["accuracy_ci95"]
        table.add_row(
            name,
            system["path"],
            f"{100 * system['accuracy']:.2f} %",
            f"[{100 * low:.2f}, {100 * high:.2f}]",
            str(discordant),
        )
    verdict = "significant" if test["p_value"] < 0.05 else "not significant"
    console = Console()
    console.print(table)
    console.print(
        f"McNemar ({test['method']}): statistic {test['statistic']:.4g}, "
        f"p = {test['p_value']:.4g} ({verdict} at 0.05)"
    )
