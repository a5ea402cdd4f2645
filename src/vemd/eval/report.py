"""Per-item prediction files and metric files written by ``vemd test`` / ``vemd predict``.

``predictions.csv`` has one row per evaluated item::

    item_id,true_label,pred_label,prob_<class 0>,prob_<class 1>,...[,pred_valence,true_valence]

Labels are class names; ``true_label`` is empty for unlabelled items. The class
order is the order of the ``prob_`` columns. A model with a valence head adds its
clip valence and the target (empty where the item has none). Only group-level
outputs appear.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vemd.errors import DataError
from vemd.io import atomic_write_text

PROB_PREFIX = "prob_"
_FIXED_COLUMNS = ("item_id", "true_label", "pred_label")
VALENCE_COLUMNS = ("pred_valence", "true_valence")


def write_predictions_csv(
    path: str | Path,
    item_ids: Sequence[str],
    y_true: Sequence[int] | None,
    y_pred: Sequence[int],
    probs: np.ndarray,
    class_names: list[str],
    *,
    valence: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write ``predictions.csv`` atomically.

    ``y_true``/``y_pred`` are (N,) label indices (``y_true`` None when unlabelled);
    ``probs`` is (N, C) class probabilities in ``class_names`` order; ``valence`` the (N,)
    predicted and (N,) target valences (NaN: no target), written as the last two columns.
    """
    probs = np.asarray(probs, dtype=np.float64)
    num_items = len(item_ids)
    if probs.shape != (num_items, len(class_names)) or len(y_pred) != num_items:
        raise ValueError(
            f"expected {num_items} predictions over {len(class_names)} classes, got probs {probs.shape}"
        )
    if y_true is not None and len(y_true) != num_items:
        raise ValueError(f"expected {num_items} true labels, got {len(y_true)}")
    if valence is not None and any(len(v) != num_items for v in valence):
        raise ValueError(f"expected {num_items} predicted and target valences")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = list(VALENCE_COLUMNS) if valence is not None else []
    writer.writerow([*_FIXED_COLUMNS, *(PROB_PREFIX + name for name in class_names), *extra])
    for i, item_id in enumerate(item_ids):
        true_name = "" if y_true is None else class_names[int(y_true[i])]
        row = [item_id, true_name, class_names[int(y_pred[i])], *(repr(float(p)) for p in probs[i])]
        if valence is not None:
            row += [_number(v[i]) for v in valence]
        writer.writerow(row)
    atomic_write_text(path, buffer.getvalue())
    return Path(path)


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else ""


def read_predictions_csv(path: str | Path) -> tuple[list[str], list[str], list[str], np.ndarray, list[str]]:
    """Read ``predictions.csv``: item ids, true names ("" when unlabelled), predicted names, (N, C) probs, classes.

    Valence columns, when present, are left out of the result.
    """
    path = Path(path)
    if not path.is_file():
        kind = "a folder, not a predictions.csv file" if path.is_dir() else "missing predictions file"
        raise DataError(f"{path}: {kind}")
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise DataError(f"{path}: empty predictions file")
    header = rows[0]
    end = len(header) - len(VALENCE_COLUMNS) if tuple(header[-2:]) == VALENCE_COLUMNS else len(header)
    if (
        tuple(header[:3]) != _FIXED_COLUMNS
        or not header[3:end]
        or any(not h.startswith(PROB_PREFIX) for h in header[3:end])
    ):
        raise DataError(
            f"{path}: header must be {','.join(_FIXED_COLUMNS)},{PROB_PREFIX}<class>...[,"
            f"{','.join(VALENCE_COLUMNS)}], got {header}"
        )
    class_names = [h[len(PROB_PREFIX) :] for h in header[3:end]]
    item_ids, y_true, y_pred, probs, seen = [], [], [], [], set()
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} fields, got {len(row)}")
        item_id, true_name, pred_name = row[:3]
        if item_id in seen:
            raise DataError(f"{path}:{line}: duplicate item_id {item_id!r}")
        for name in (true_name, pred_name):
            if name and name not in class_names:
                raise DataError(f"{path}:{line}: label {name!r} is not one of {class_names}")
        if not pred_name:
            raise DataError(f"{path}:{line}: empty pred_label")
        try:
            probs.append([float(v) for v in row[3:end]])
        except ValueError as err:
            raise DataError(f"{path}:{line}: unreadable probability ({err})") from err
        seen.add(item_id)
        item_ids.append(item_id)
        y_true.append(true_name)
        y_pred.append(pred_name)
    return (
        item_ids,
        y_true,
        y_pred,
        np.asarray(probs, dtype=np.float64).reshape(-1, len(class_names)),
        class_names,
    )


def write_metrics_json(path: str | Path, metrics: dict, extra: dict | None = None) -> Path:
    """Write ``metrics`` merged with ``extra`` (e.g. checkpoint, config) as sorted JSON, atomically.

    NumPy scalars and arrays become plain numbers and lists; non-finite floats become ``null``.
    """
    extra = extra or {}
    clashes = sorted(set(metrics) & set(extra))
    if clashes:
        raise ValueError(f"extra keys {clashes} would overwrite metrics")
    text = json.dumps(_plain({**metrics, **extra}), indent=2, sort_keys=True, allow_nan=False)
    atomic_write_text(path, text + "\n")
    return Path(path)


def _plain(value):
    """JSON-ready copy of ``value``: builtin numbers, lists and string-keyed dicts only."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def modality_table(title: str, metrics: dict, tests: dict, notes: Sequence[str] = ()) -> str:
    """``modalities.md``: each modality (or branch) alone and fused, one row each (the paper's
    Table 12 for §7): accuracy with its Wilson 95 % interval, weighted F1, UAR, clips scored and
    McNemar's p of the fused predictions against it. ``metrics``: name → classification metrics
    (None: no clip had it); ``tests``: ``fused_vs_<name>`` → McNemar result."""
    lines = [f"# {title}", "", *(f"{note}\n" for note in notes)]
    lines += [
        "| modality | accuracy | 95 % CI | F1 (weighted) | UAR | clips | McNemar p (fused vs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        if m is None:
            lines.append(f"| {name} | – | – | – | – | 0 | – |")
            continue
        low, high = m["accuracy_ci95"]
        p = tests.get(f"fused_vs_{name}", {}).get("p_value")
        lines.append(
            f"| {name} | {100 * m['accuracy']:.1f} % | {100 * low:.1f}–{100 * high:.1f} | "
            f"{100 * m['f1_weighted']:.1f} % | {100 * m['uar']:.1f} % | {m['num_items']} | "
            f"{'–' if p is None else f'{p:.2g}'} |"
        )
    return "\n".join(lines) + "\n"
