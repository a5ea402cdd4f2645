"""Cross-validation over dataset folds (DFEW's 5 splits): train, evaluate, average UAR/WAR."""

from __future__ import annotations

import json
from pathlib import Path

from vemd.config import ConfigError, load_config
from vemd.data.loaders.dfew import FOLDS, average_folds
from vemd.io import atomic_write_text


def parse_folds(spec: str) -> list[int]:
    """``all`` or a comma-separated list of fold numbers."""
    if spec == "all":
        return list(FOLDS)
    try:
        folds = [int(part) for part in spec.split(",")]
    except ValueError as err:
        raise ConfigError(f"--folds {spec!r}: expected 'all' or numbers such as 1,2,3") from err
    unknown = [f for f in folds if f not in FOLDS]
    if unknown:
        raise ConfigError(f"--folds {spec!r}: folds {unknown} do not exist (folds are {list(FOLDS)})")
    return folds


def fit_folds(
    recipe: str, overrides: list[str], spec: str, *, resume: bool = False, overwrite: bool = False
) -> dict:
    """Train and evaluate every fold; writes ``<out_dir>/folds.json`` with the average
    (``resume`` and ``overwrite`` as :func:`vemd.systems.fit` takes them, for every fold)."""
    from vemd.systems import evaluate, fit

    base = load_config(recipe, overrides)
    out_dir = Path(base.train.out_dir)
    per_fold = {}
    for fold in parse_folds(spec):
        cfg = load_config(
            recipe, [*overrides, f"data.fold={fold}", f"train.out_dir={out_dir / f'fold{fold}'}"]
        )
        model = fit(cfg, resume=resume, overwrite=overwrite)["model"]
        split = cfg.data.test_split if cfg.data.name == "dfew" else cfg.data.val_split
        metrics = evaluate(
            model, split=split, out_dir=out_dir / f"fold{fold}" / f"test-{split}", data_cfg=cfg
        )
        per_fold[fold] = {"uar": metrics["uar"], "war": metrics["war"], "accuracy": metrics["accuracy"]}
    summary = {"folds": per_fold, **average_folds(list(per_fold.values()))}
    atomic_write_text(out_dir / "folds.json", json.dumps(summary, indent=2))
    return summary
