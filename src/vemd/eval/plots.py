"""Figures of an evaluation run, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Every function writes one PNG (parent folders created) atomically, so a run killed while
saving leaves the earlier figure whole, and returns its path.
Only :func:`plot_sr_heatmaps` can show frame pixels, and only when the caller passes them.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from vemd.errors import DataError
from vemd.io import atomic_write

_CMAP = "tab10"
_DPI = 120
_LOSS_KEYS = ("loss",)
_SCORE_KEYS = ("acc", "uar", "war", "f1")


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=_DPI, bbox_inches="tight"))
    return path


def _class_colors(num_classes: int) -> list[tuple[float, float, float, float]]:
    cmap = colormaps[_CMAP]
    return [cmap(i % cmap.N) for i in range(num_classes)]


def plot_confusion(confusion, class_names: list[str], path: str | Path, normalize: bool = True) -> Path:
    """Confusion matrix (C, C), rows = true class, columns = predicted, each cell annotated
    with its count and its share of the row; coloured by that share (or by count)."""
    counts = np.asarray(confusion, dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    shares = counts / np.maximum(rows, 1)
    shown = shares if normalize else counts
    num = len(class_names)
    side = 1.6 + 0.9 * num
    figure = Figure(figsize=(side + 1.2, side))
    ax = figure.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(int(counts.max()), 1))
    figure.colorbar(
        image, ax=ax, fraction=0.046, pad=0.04, label="share of true class" if normalize else "count"
    )
    threshold = 0.5 * image.get_clim()[1]
    for i in range(num):
        for j in range(num):
            ax.text(
                j,
                i,
                f"{counts[i, j]}\n{100 * shares[i, j]:.1f}%",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if shown[i, j] > threshold else "black",
            )
    ax.set_xticks(range(num), class_names, rotation=30, ha="right")
    ax.set_yticks(range(num), [f"{name} (n={int(rows[k, 0])})" for k, name in enumerate(class_names)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(
        f"Confusion matrix ({int(counts.sum())} items, accuracy {np.trace(counts) / max(counts.sum(), 1):.1%})"
    )
    return _save(figure, path)


def plot_sr_heatmaps(
    pred: np.ndarray,
    target: np.ndarray,
    path: str | Path,
    frames: np.ndarray | None = None,
    title: str = "",
    column_titles: list[str] | None = None,
) -> Path:
    """Predicted vs target structural heatmaps per frame (the paper's Figure 8).

    ``pred``/``target``: (T, H, W), or (T, L, H, W) limb channels summed per frame.
    ``frames``: optional (T, H0, W0, 3) uint8 images, adding overlay rows.
    Columns are frames, titled ``column_titles[t]`` (default "frame t") and the frame's heatmap MSE.
    """
    pred, target = np.asarray(pred, dtype=np.float32), np.asarray(target, dtype=np.float32)
    if pred.shape != target.shape or pred.ndim not in (3, 4):
        raise ValueError(
            f"pred and target must share a (T, H, W) or (T, L, H, W) shape, got {pred.shape}, {target.shape}"
        )
    mse = ((pred - target) ** 2).reshape(len(pred), -1).mean(axis=1)
    if pred.ndim == 4:
        pred, target = pred.sum(axis=1), target.sum(axis=1)  # (T, H, W)
    num_frames = len(pred)
    row_maps = [("ground truth", target), ("prediction", pred)]
    rows = row_maps + ([("GT overlay", target), ("pred overlay", pred)] if frames is not None else [])
    figure = Figure(figsize=(2.2 * num_frames + 0.6, 2.2 * len(rows) + 0.4), layout="constrained")
    axes = figure.subplots(len(rows), num_frames, squeeze=False)
    for t in range(num_frames):
        vmax = max(float(target[t].max()), float(pred[t].max()), 1e-6)
        # with frames, the square map is stretched over the frame so every panel keeps its aspect
        extent = None if frames is None else (0, frames[t].shape[1], frames[t].shape[0], 0)
        for r, (label, maps) in enumerate(rows):
            ax = axes[r, t]
            alpha = None
            if r >= len(row_maps):
                # a dimmed greyscale frame, so the map stays readable over any colour
                ax.imshow(np.asarray(frames[t], dtype=np.float32).mean(-1), cmap="gray", vmin=0, vmax=400)
                alpha = np.clip(maps[t] / vmax, 0, 1) * 0.8
            ax.imshow(maps[t], cmap="magma", vmin=0, vmax=vmax, alpha=alpha, extent=extent)
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(label)
        name = column_titles[t] if column_titles else f"frame {t}"
        axes[0, t].set_title(f"{name}\nmse {mse[t]:.4f}", fontsize=9)
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_va_timeline(windows: list[dict], path: str | Path) -> Path:
    """Valence and arousal over a video's windows (``{"start", "end", "valence", "arousal"}``),
    as two lines at the window centres on the [-1, 1] scale."""
    windows = sorted(windows, key=lambda w: (w["start"], w["end"]))
    centres = np.array([(w["start"] + w["end"]) / 2 for w in windows], dtype=np.float64)
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    ax = figure.subplots()
    for key, color in (("valence", "#1b7837"), ("arousal", "#b2182b")):
        ax.plot(centres, [w[key] for w in windows], marker="o", markersize=3, color=color, label=key)
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_ylim(-1, 1)
    ax.set_xlim(windows[0]["start"], windows[-1]["end"])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("value")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title("Group valence and arousal over time")
    return _save(figure, path)


def plot_timeline(windows: list[dict], class_names: list[str], path: str | Path) -> Path:
    """Class probabilities over a video's windows, stacked, above a band of the predicted label.

    Each window is ``{"start": s, "end": s, "label": name or index, "probs": (C,)}``;
    probabilities are placed at window centres and held to the first start / last end.
    """
    if not windows:
        raise ValueError("no windows to plot")
    windows = sorted(windows, key=lambda w: (w["start"], w["end"]))
    starts = np.array([w["start"] for w in windows], dtype=np.float64)
    ends = np.array([w["end"] for w in windows], dtype=np.float64)
    probs = np.array([w["probs"] for w in windows], dtype=np.float64)  # (N, C)
    centres = (starts + ends) / 2
    times = np.concatenate([[starts[0]], centres, [ends[-1]]])
    curves = np.concatenate([probs[:1], probs, probs[-1:]]).T  # (C, N + 2)
    colors = _class_colors(len(class_names))

    figure = Figure(figsize=(9, 3.6), layout="constrained")
    ax, band = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1]})
    ax.stackplot(times, curves, labels=class_names, colors=colors, alpha=0.85)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title("Group emotion over time")

    bounds = np.concatenate([[starts[0]], (centres[1:] + centres[:-1]) / 2, [ends[-1]]])
    for i, window in enumerate(windows):
        label = window["label"]
        index = class_names.index(label) if isinstance(label, str) else int(label)
        band.broken_barh(
            [(bounds[i], bounds[i + 1] - bounds[i])], (0, 1), facecolors=colors[index], alpha=0.85
        )
    band.set_yticks([])
    band.set_ylabel("pred", rotation=0, ha="right", va="center")
    band.set_xlabel("time (s)")
    band.set_xlim(starts[0], ends[-1])
    return _save(figure, path)


def plot_training_curves(metrics_csv_path: str | Path, path: str | Path) -> Path:
    """Losses over steps and validation scores over epochs from a Lightning ``CSVLogger`` metrics.csv.

    Columns whose name contains ``loss`` go in the first panel, those containing
    ``acc``/``uar``/``war``/``f1`` in the second; absent groups are skipped.
    """
    columns = _read_metrics_csv(metrics_csv_path)
    num_rows = len(next(iter(columns.values())))
    step = columns.get("step", np.arange(num_rows, dtype=np.float64))
    epoch = columns.get("epoch", step)
    groups = [
        ("loss", "step", step, sorted(n for n in columns if any(k in n for k in _LOSS_KEYS))),
        ("score", "epoch", epoch, sorted(n for n in columns if any(k in n.lower() for k in _SCORE_KEYS))),
    ]
    groups = [g for g in groups if any(np.isfinite(columns[n]).any() for n in g[3])]
    if not groups:
        raise DataError(f"{metrics_csv_path}: no loss or score column to plot")
    figure = Figure(figsize=(6 * len(groups), 4), layout="constrained")
    for ax, (ylabel, xlabel, x, names) in zip(figure.subplots(1, len(groups), squeeze=False)[0], groups):
        for name in names:
            keep = np.isfinite(columns[name]) & np.isfinite(x)
            if keep.any():
                ax.plot(
                    x[keep], columns[name][keep], marker="o" if keep.sum() < 30 else None, ms=3, label=name
                )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(f"Training curves ({Path(metrics_csv_path).parent.name or Path(metrics_csv_path).name})")
    return _save(figure, path)


def _read_metrics_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a metrics CSV as float arrays, NaN where a row left the cell empty."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing metrics file")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        names = list(reader.fieldnames or ())
        values: dict[str, list[float]] = {n: [] for n in names}
        for line, row in enumerate(reader, start=2):
            for name in names:
                cell = (row.get(name) or "").strip()
                try:
                    values[name].append(float(cell) if cell else math.nan)
                except ValueError as err:
                    raise DataError(f"{path}:{line}: column {name!r} is not numeric ({cell!r})") from err
    if not names:
        raise DataError(f"{path}: empty metrics file")
    return {n: np.asarray(v, dtype=np.float64) for n, v in values.items()}
