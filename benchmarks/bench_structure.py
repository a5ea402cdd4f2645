"""The paper's structural ablations (Tables 5, 6, 8, 9, 10) as one grid on SynthGroups.

Every cell is the ``quickstart`` recipe with a few overrides (:data:`CELLS`), trained for the
same number of epochs with several seeds on one SynthGroups set, and tested on its test split:

=========================  =====================================================================
cells                      paper
=========================  =====================================================================
ve-sd                      the VE-SD column of Tables 5 and 6 (no structural decoder)
ve-md-heatmap, ve-md-pq    Table 6: structure supervises the latent only, no SR input
sr-heatmap-*, sr-pq-*      Table 5: the SR is also fed to the emotion decoder
``-proj`` vs ``-raw``      Table 8: projected SR (the quickstart's: LayerNorm, factor 2, a gate
                           that starts closed) vs raw SR (the paper's recipes: concatenated as it
                           is, no LayerNorm, no gate)
``-face``, ``-bodyface``   Tables 9 and 10: which structures are decoded and fed (the base,
                           ``--modalities-base``, decodes the body)
=========================  =====================================================================

Every structural cell decodes the body (the quickstart decodes body and face) unless its
``-face``/``-bodyface`` suffix says otherwise. Heatmap cells keep the quickstart's weight of 30
on the (sparse) heatmaps; PersonQuery cells use 12 queries per modality (SynthGroups' most
people in a scene, the paper's Q_max), a 64-wide 2-layer decoder (the ``tiny`` recipe's) and
the paper's PersonQuery weight (``loss.body=null`` → 0.1). The learning rate is the
quickstart's in every cell, so a row differs from another only in its structure. Raw SR with heatmaps makes the emotion decoder's
frame embedding 2·32 + 56² = 3,200 wide (the quickstart's 4 heads divide it): that cell has ~43 M
parameters against ~1.2 M, and each of its runs keeps ~1.2 GB on disk (model.pt 0.17 GB, best
and last checkpoints with the optimizer state 0.5 GB each); ``--modalities-base sr-heatmap-raw``
makes body+face raw SR 6,336 wide, ~164 M parameters, ~4.6 GB a run.

For each cell and seed the run goes to ``<out>/<cell>/seed<k>`` (``vemd.systems.fit``, resumed
when killed), its test predictions to ``<out>/<cell>/seed<k>/test/predictions.csv``, its numbers
to ``result.json`` there (a cell-seed with a ``result.json`` is not run again). The table gives
test accuracy mean ± sd over the seeds, each seed's accuracy with its Wilson 95 % interval, and
McNemar's p of the cell against VE-SD of the same seed on the same test clips; it is printed and
written to ``<out>/table.md``, every number to ``<out>/grid.json``.

The full grid (9 cells × 3 seeds × 3 epochs on 3,000 training scenes):

    .venv/bin/python benchmarks/bench_structure.py --out runs/bench_structure

The quick grid (VE-SD, VE-MD-Heatmap, VE-MD-SR-Heatmap projected and raw; 2 seeds):

    .venv/bin/python benchmarks/bench_structure.py --out runs/bench_structure --quick

A quickstart-recipe run of 3,000 scenes × 3 epochs trains in about 90 s on a 2-core CPU, so the
quick grid's 8 runs take about 15 min of training, plus the synthesis of the set and the test
evaluations (the raw-SR cell trains slower); the runtime is the one the user's run measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from vemd.config import load_config
from vemd.errors import USER_ERRORS, ConfigError
from vemd.eval.compare import compare_predictions
from vemd.io import atomic_write_text

RECIPE = "quickstart"
REFERENCE = "ve-sd"  # the McNemar column compares every cell with this one
DATA_SEED = 0

# Structure-loss weights per decoder (see the module docstring).
BODY = "model.sr.modalities=[body]"  # the base cells decode the body; the SR-modality cells say theirs
HEATMAP = [BODY, "model.decoder=heatmap", "loss.face=30.0"]
PERSONQUERY = [
    BODY,
    "model.decoder=personquery",
    "model.personquery.num_queries.body=12",
    "model.personquery.num_queries.face=12",
    "model.personquery.hidden_dim=64",
    "model.personquery.num_layers=2",
    "model.personquery.num_heads=4",
    "loss.body=null",
]
PROJECTED_SR = [
    "model.mode=ve-md-sr",
    "model.sr.projection=2.0",
    "model.sr.gate=true",
    "model.sr.norm=layernorm",
]
RAW_SR = ["model.mode=ve-md-sr", "model.sr.projection=null", "model.sr.gate=false", "model.sr.norm=projected"]
SR_MODALITIES = {  # suffix: (label, override), the SR-modality cells of Tables 9 and 10
    "face": ("face SR", "model.sr.modalities=[face]"),
    "bodyface": ("body+face SR", "model.sr.modalities=[body,face]"),
}

# name: (printed label, overrides of the quickstart recipe)
CELLS = {
    "ve-sd": ("VE-SD", ["model.mode=ve-sd"]),
    "ve-md-heatmap": ("VE-MD-Heatmap", ["model.mode=ve-md", *HEATMAP]),
    "ve-md-pq": ("VE-MD-PersonQuery", ["model.mode=ve-md", *PERSONQUERY]),
    "sr-heatmap-proj": ("VE-MD-SR-Heatmap, projected SR", [*PROJECTED_SR, *HEATMAP]),
    "sr-heatmap-raw": ("VE-MD-SR-Heatmap, raw SR", [*RAW_SR, *HEATMAP]),
    "sr-pq-proj": ("VE-MD-SR-PersonQuery, projected SR", [*PROJECTED_SR, *PERSONQUERY]),
    "sr-pq-raw": ("VE-MD-SR-PersonQuery, raw SR", [*RAW_SR, *PERSONQUERY]),
    "sr-heatmap-proj-face": (
        "VE-MD-SR-Heatmap, projected SR, face SR",
        [*PROJECTED_SR, *HEATMAP, SR_MODALITIES["face"][1]],
    ),
    "sr-heatmap-proj-bodyface": (
        "VE-MD-SR-Heatmap, projected SR, body+face SR",
        [*PROJECTED_SR, *HEATMAP, SR_MODALITIES["bodyface"][1]],
    ),
}
MODALITIES_BASE = "sr-heatmap-proj"  # the base of the SR-modality cells in CELLS
SR_BASES = ["sr-heatmap-proj", "sr-heatmap-raw", "sr-pq-proj", "sr-pq-raw"]  # --modalities-base
QUICK_CELLS = ["ve-sd", "ve-md-heatmap", "sr-heatmap-proj", "sr-heatmap-raw"]


def grid(modalities_base: str = MODALITIES_BASE) -> dict[str, tuple[str, list[str]]]:
    """:data:`CELLS`, with the SR-modality cells built on ``modalities_base`` (one of :data:`SR_BASES`)."""
    cells = {k: v for k, v in CELLS.items() if not k.startswith(f"{MODALITIES_BASE}-")}
    label, overrides = CELLS[modalities_base]
    for suffix, (what, override) in SR_MODALITIES.items():
        cells[f"{modalities_base}-{suffix}"] = (f"{label}, {what}", [*overrides, override])
    return cells


def make_data(
    root: Path, *, n_train: int, n_val: int, n_test: int, workers: int, progress: bool = True
) -> Path:
    """The SynthGroups set of every cell (single frames); an existing one is finished, not redone."""
    from vemd.synth import generate_dataset

    return generate_dataset(
        root,
        n_train=n_train,
        n_val=n_val,
        n_test=n_test,
        frames=1,
        seed=DATA_SEED,
        workers=workers,
        progress=progress,
    )


def run_overrides(
    cell: list[str], run_dir: Path, seed: int, epochs: int, data: Path, extra: list[str]
) -> list[str]:
    """Every override of one cell-seed's run, in the order applied (the user's ``--set`` last)."""
    run = [
        f"data.root={data}",
        f"train.out_dir={run_dir}",
        f"train.seed={seed}",
        f"train.max_epochs={epochs}",
    ]
    return [*run, *cell, *extra]


def run_one(run_dir: Path, overrides: list[str]) -> dict:
    """Train (or resume) one cell-seed, test it, and write its ``result.json``; an existing one is read."""
    from vemd.systems import evaluate, fit

    result_path = run_dir / "result.json"
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        changed = sorted(set(result["overrides"]) ^ set(overrides))
        if changed:
            raise ConfigError(
                f"{result_path}: this run had other settings ({', '.join(changed)} differ); "
                "give another --out, or delete the folder to run it again"
            )
        return result
    cfg = load_config(RECIPE, overrides)
    resumed = (run_dir / "model.pt").exists() or any(run_dir.glob("stage*/last.ckpt"))
    start = time.perf_counter()
    summary = fit(cfg, resume=True)
    train_s = time.perf_counter() - start
    metrics = evaluate(summary["model"], split="test", out_dir=run_dir / "test", group_sizes=None)
    result = {
        "overrides": overrides,
        "val_accuracy": summary.get("best_val_score") if cfg.train.monitor == "val/accuracy" else None,
        "test_accuracy": metrics["accuracy"],
        "test_accuracy_ci95": metrics["accuracy_ci95"],
        "num_test": metrics["num_items"],
        "num_classes": len(metrics["class_names"]),
        "train_s": round(train_s, 1),
        "resumed": resumed,  # train_s then counts only the part run after the resume
        "predictions": str(Path(metrics["report"]) / "predictions.csv"),
    }
    atomic_write_text(result_path, json.dumps(result, indent=2))
    return result


def mcnemar_against(result: dict, reference: dict | None) -> dict | None:
    """McNemar's test of a cell-seed against the reference cell's same seed on the same test clips."""
    if reference is None:
        return None
    return compare_predictions(reference["predictions"], result["predictions"])["mcnemar"]


def summarise(label: str, results: dict[int, dict], references: dict[int, dict]) -> dict:
    """One row of the table: accuracy mean ± sd over the seeds, and per seed its CI and McNemar test."""
    accuracies = [100 * r["test_accuracy"] for r in results.values()]
    return {
        "label": label,
        "mean": statistics.mean(accuracies),
        "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "seeds": results,
        "mcnemar": {seed: mcnemar_against(r, references.get(seed)) for seed, r in results.items()},
        "left_chance": {
            seed: r["test_accuracy_ci95"][0] > 1 / r["num_classes"] for seed, r in results.items()
        },
    }


def _seed_cell(result: dict) -> str:
    low, high = result["test_accuracy_ci95"]
    return f"{100 * result['test_accuracy']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _p_values(row: dict, is_reference: bool) -> str:
    if is_reference:
        return "ref."
    return ", ".join("—" if test is None else f"{test['p_value']:.3g}" for test in row["mcnemar"].values())


def render_table(rows: dict[str, dict], seeds: list[int], epochs: int) -> str:
    """The grid as a Markdown table shaped like the paper's Tables 5, 6 and 8."""
    header = ["cell", "test accuracy (%)", *(f"seed {s} [Wilson 95 %]" for s in seeds), "McNemar p vs VE-SD"]
    lines = [
        f"SynthGroups test accuracy, {epochs} epochs, seeds {', '.join(map(str, seeds))}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for name, row in rows.items():
        per_seed = [_seed_cell(row["seeds"][s]) if s in row["seeds"] else "—" for s in seeds]
        lines.append(
            f"| {row['label']} | {row['mean']:.1f} ± {row['sd']:.1f} | "
            + " | ".join(per_seed)
            + f" | {_p_values(row, name == REFERENCE)} |"
        )
    return "\n".join(lines) + "\n"


def chance_report(rows: dict[str, dict]) -> str:
    """Whether every cell left chance (Wilson lower bound above 1 / classes) on every seed."""
    stuck = [
        f"{name} seed {s}" for name, row in rows.items() for s, left in row["left_chance"].items() if not left
    ]
    if not stuck:
        return "Every cell left chance on every seed (Wilson 95 % lower bound above 1 / classes)."
    return f"At chance (Wilson 95 % lower bound ≤ 1 / classes): {', '.join(stuck)}."


def run_grid(
    out: Path,
    cells: dict[str, tuple[str, list[str]]],
    seeds: list[int],
    epochs: int,
    data: Path,
    extra: list[str],
) -> dict[str, dict]:
    """Every cell × seed (seed by seed, so a partial grid compares whole seeds); the table's rows."""
    results: dict[str, dict[int, dict]] = {name: {} for name in cells}
    for seed in seeds:
        for name, (_, cell) in cells.items():
            run_dir = out / name / f"seed{seed}"
            result = run_one(run_dir, run_overrides(cell, run_dir, seed, epochs, data, extra))
            results[name][seed] = result
            shown = {k: result[k] for k in ("val_accuracy", "test_accuracy", "train_s")}
            print(json.dumps({"cell": name, "seed": seed, **shown}), flush=True)
    references = results.get(REFERENCE) or _reference_on_disk(out, seeds, epochs, data, extra)
    return {name: summarise(cells[name][0], results[name], references) for name in cells}


def _reference_on_disk(out: Path, seeds: list[int], epochs: int, data: Path, extra: list[str]) -> dict:
    """The reference cell's results of an earlier invocation with these settings, when this one
    did not run it."""
    found = {}
    for seed in seeds:
        run_dir = out / REFERENCE / f"seed{seed}"
        if (run_dir / "result.json").is_file():
            result = json.loads((run_dir / "result.json").read_text())
            if result["overrides"] == run_overrides(CELLS[REFERENCE][1], run_dir, seed, epochs, data, extra):
                found[seed] = result
    return found


def write_reports(out: Path, rows: dict[str, dict], settings: dict, table: str) -> None:
    atomic_write_text(out / "table.md", table)
    atomic_write_text(out / "grid.json", json.dumps({"settings": settings, "cells": rows}, indent=2))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench_structure")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-val", type=int, default=600)
    parser.add_argument("--n-test", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2, help="processes that draw the SynthGroups set")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (3; 2 with --quick)")
    parser.add_argument(
        "--cells", nargs="+", default=None, help=f"cells to run (all; with --quick: {QUICK_CELLS})"
    )
    parser.add_argument("--skip", nargs="+", default=[], help="cells to leave out")
    parser.add_argument("--modalities-base", choices=SR_BASES, default=MODALITIES_BASE)
    parser.add_argument("--quick", action="store_true", help="the quick grid: 4 cells, 2 seeds")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE, every run")
    args = parser.parse_args(argv)
    known = grid(args.modalities_base)
    unknown = [c for c in [*(args.cells or []), *args.skip] if c not in known]
    if unknown:
        parser.error(f"unknown cells {unknown}; known: {', '.join(known)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run_benchmark(args)
    except USER_ERRORS as err:  # one line, as the vemd command prints them
        print(f"bench_structure: {err}", file=sys.stderr)
        return 1


def run_benchmark(args: argparse.Namespace) -> int:
    known = grid(args.modalities_base)
    chosen = args.cells or (QUICK_CELLS if args.quick else list(known))
    cells = {name: known[name] for name in chosen if name not in args.skip}
    if not cells:
        raise ConfigError(f"--skip {' '.join(args.skip)} leaves no cell to run")
    seeds = list(range(args.seeds if args.seeds is not None else 2 if args.quick else 3))
    out = Path(args.out)
    data = make_data(
        out / "data", n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, workers=args.workers
    )
    rows = run_grid(out, cells, seeds, args.epochs, data, args.overrides)
    settings = {
        "recipe": RECIPE,
        "data": str(data),
        "epochs": args.epochs,
        "seeds": seeds,
        "set": args.overrides,
    }
    table = render_table(rows, seeds, args.epochs)
    write_reports(out, rows, settings, table)
    print(f"\n{table}\n{chance_report(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
