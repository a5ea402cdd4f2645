"""``vemd data check``: validate a dataset copy (counts, bad files, annotation coverage)."""

from __future__ import annotations

import argparse
import json

from vemd.commands.common import add_dataset_arguments, dataset_config

HELP = "Inspect dataset copies (data check NAME ROOT | data check --config FILE)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="validate a copy before training: counts, missing/unreadable (every image decoded)/truncated/"
        "short files, bad labels, annotation coverage; exits 1 on any problem; never modifies the data",
    )
    check.add_argument("name", nargs="?", help="dataset loader (gaf3, vgaf, dfew, mer2023, samsemo, ...)")
    check.add_argument("root", nargs="?", help="folder holding the copy")
    add_dataset_arguments(check)
    check.add_argument("--split", action="append", help="check only this split (repeatable)")
    check.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from vemd.data.check import check_dataset

    cfg = dataset_config(args.name, args.root, args.config, list(args.set))
    report = check_dataset(cfg.data, tuple(args.split) if args.split else None, progress=not args.json)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    return 1 if report.problems else 0


def _print(report) -> None:
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from vemd.data.check import PROBLEM_KINDS

    console = Console()
    counts = Table(title=f"{report.name} at {report.root} (T={report.frames}, {report.sampling})")
    counts.add_column("class")
    splits = list(report.counts)
    for split in splits:
        counts.add_column(split, justify="right")
    for name in report.class_names:
        counts.add_row(name, *(str(report.counts[s].get(name, 0)) for s in splits))
    counts.add_row("total", *(str(sum(report.counts[s].values())) for s in splits), style="bold")
    console.print(counts)
    for note in report.notes:
        console.print(f"[note] {note}", markup=False, highlight=False, soft_wrap=True)
    for p in report.problems:
        console.print(
            f"[{p.kind}] {p.split}: {p.path}: {p.message}", markup=False, highlight=False, soft_wrap=True
        )
    summary = Table(title="summary")
    summary.add_column("check")
    summary.add_column("result", justify="right")
    kinds = Counter(p.kind for p in report.problems)
    for kind in PROBLEM_KINDS:
        summary.add_row(f"{kind} problems", str(kinds.get(kind, 0)))
    if report.coverage is not None:
        c = report.coverage
        summary.add_row("train annotation coverage", f"{c.annotated}/{c.frames} frames ({c.fraction:.1%})")
    summary.add_row("status", "FAILED" if report.problems else "ok", style="bold")
    console.print(summary)
