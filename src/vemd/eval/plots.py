"""Figures of an evaluation run, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Every function writes one PNG (parent folders created) atomically, so a run killed while
saving leaves the earlier figure whole, and returns its path.
Only :func:`plot_sr_heatmaps` can show frame pixels, and only when the caller passes them.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vemd.errors import DataError
from vemd.io import atomic_write

_CMAP = "tab10"
_DPI = 120
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


def plot_timeline(
    windows: list[dict], class_names: list[str], path: str | Path, truth: list[dict] | None = None
) -> Path:
    """Write :func:`timeline_figure` to ``path``."""
    return _save(timeline_figure(windows, class_names, truth), path)


def window_pieces(windows: list[dict]) -> list[tuple[float, float, np.ndarray]]:
    """The time a video's windows cover, cut at every window's start and end: ``(start, end,
    probs)`` per piece, ``probs`` the mean of the windows that cover it (one window's own where
    they do not overlap). Time no window covers (a stride longer than the window) is left out:
    nothing was measured there."""
    starts = np.array([w["start"] for w in windows], dtype=np.float64)
    ends = np.array([w["end"] for w in windows], dtype=np.float64)
    probs = np.array([w["probs"] for w in windows], dtype=np.float64)  # (N, C)
    edges = np.unique(np.concatenate([starts, ends]))
    pieces = []
    for a, b in zip(edges[:-1], edges[1:]):
        covering = (starts <= a) & (ends >= b)
        if covering.any():
            pieces.append((float(a), float(b), probs[covering].mean(0)))
    return pieces


def timeline_figure(windows: list[dict], class_names: list[str], truth: list[dict] | None = None) -> Figure:
    """Class probabilities over a video's windows, stacked, above a band of the predicted label;
    with ``truth``, a band of the true label above them.

    Each window is ``{"start": s, "end": s, "label": name or index, "probs": (C,)}``. The areas
    hold each window's probabilities over the time it covers, as steps: where windows overlap,
    their mean (:func:`window_pieces`); nothing is drawn between windows that leave a gap, and
    no change is drawn where none was measured. The predicted band is the label of the highest
    probability of each piece.
    ``truth``: the true label over time, as ``{"start": s, "end": s, "label": name or index}``
    spans (known for generated videos; ``vemd predict`` has none).
    """
    if not windows:
        raise ValueError("no windows to plot")
    pieces = window_pieces(windows)
    colors = _class_colors(len(class_names))

    ratios = [1, 5, 1] if truth else [5, 1]
    figure = Figure(figsize=(9, 3.6 + 0.6 * bool(truth)), layout="constrained")
    axes = figure.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    ax = axes[-2]
    runs: list[list[tuple[float, float, np.ndarray]]] = []  # pieces that touch, drawn as one area each
    for piece in pieces:
        if runs and runs[-1][-1][1] == piece[0]:
            runs[-1].append(piece)
        else:
            runs.append([piece])
    for k, run in enumerate(runs):
        times = [t for a, b, _ in run for t in (a, b)]
        curves = np.array([p for _, _, p in run for _ in (0, 1)]).T  # (C, 2 · pieces)
        ax.stackplot(times, curves, labels=class_names if k == 0 else (), colors=colors, alpha=0.85)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    axes[0].set_title("Group emotion over time")

    predicted = [{"start": a, "end": b, "label": int(np.argmax(p))} for a, b, p in pieces]
    if truth:
        _label_band(axes[0], "truth", truth, class_names, colors)
    _label_band(axes[-1], "pred", predicted, class_names, colors)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(pieces[0][0], pieces[-1][1])
    return figure


def _label_band(ax, name: str, spans: list[dict], class_names: list[str], colors: list) -> None:
    """A strip coloured by the label of each ``{"start", "end", "label"}`` span, named ``name``."""
    for span in spans:
        label = span["label"]
        if isinstance(label, str) and label not in class_names:
            raise ValueError(f"{name} label {label!r} is not one of {', '.join(class_names)}")
        index = class_names.index(label) if isinstance(label, str) else int(label)
        ax.broken_barh(
            [(span["start"], span["end"] - span["start"])], (0, 1), facecolors=colors[index], alpha=0.85
        )
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel(name, rotation=0, ha="right", va="center")


class _Panel(NamedTuple):
    """A panel of the training curves."""

    title: str
    ylabel: str
    x: str  # the metrics.csv column of its x axis
    log: bool = False  # log y axis


_TOTAL = _Panel("total loss", "loss", "step")
_EMOTION = _Panel("emotion terms", "loss", "step")
_STRUCTURE = _Panel("structural and latent terms", "loss (log scale)", "step", log=True)
_SCORES = _Panel("validation scores", "score", "epoch")
_LR = _Panel("learning rate", "learning rate", "step")
_OTHER = _Panel("diagnostics", "value", "step")
_PANELS = (_TOTAL, _EMOTION, _STRUCTURE, _SCORES, _LR, _OTHER)  # in this order
_EMOTION_TERMS = ("loss_cls", "loss_latent_probe", "loss_valence")
# Scores that often coincide (accuracy and UAR on balanced data) stay apart by line and marker.
_SCORE_STYLES = (("-", "o", True), ("--", "s", False), (":", "^", True), ("-.", "D", False))


def _panel(name: str) -> _Panel | None:
    """The panel of a metrics.csv column (``train/loss_cls``, ``val/uar``, ``lr-AdamW``), None for the axes."""
    term = name.rsplit("/", 1)[-1]
    if name in ("epoch", "step"):
        return None
    if term == "loss":
        return _TOTAL
    if term.startswith("loss"):
        return _EMOTION if term in _EMOTION_TERMS else _STRUCTURE
    if any(k in term.lower() for k in _SCORE_KEYS):
        return _SCORES
    return _LR if term.startswith("lr") else _OTHER


def plot_training_curves(metrics_csv_path: str | Path, path: str | Path) -> Path:
    """Write :func:`training_curves_figure` to ``path``."""
    return _save(training_curves_figure(metrics_csv_path), path)


def training_curves_figure(metrics_csv_path: str | Path) -> Figure:
    """Panels of a Lightning ``CSVLogger`` metrics.csv: the total loss, the emotion terms
    (cross-entropies, valence), the structural and latent terms (heatmaps, limbs, MMD, …) on a
    log axis, over steps; validation scores over epochs, each with its own line and marker; the
    learning rate and any other logged value. Training is drawn solid, validation dashed with
    markers; a loss column equal to another of its panel (``loss_body`` = ``loss_body_heatmap``
    when a decoder has one term) is drawn once, named after both. Panels with nothing to draw are
    left out.
    """
    columns = _read_metrics_csv(metrics_csv_path)
    num_lines = len(next(iter(columns.values())))
    axes_values = {"step": columns.get("step", np.arange(num_lines, dtype=np.float64))}
    axes_values["epoch"] = columns.get("epoch", axes_values["step"])
    panels: dict[_Panel, list[str]] = {}
    for name in sorted(columns):
        panel = _panel(name)
        if panel is not None and np.isfinite(columns[name]).any():
            panels.setdefault(panel, []).append(name)
    if not panels.keys() & {_TOTAL, _EMOTION, _STRUCTURE, _SCORES}:
        raise DataError(f"{metrics_csv_path}: no loss or score column to plot")
    order = [p for p in _PANELS if p in panels]
    num_cols = min(3, len(order))
    num_rows = math.ceil(len(order) / num_cols)
    figure = Figure(figsize=(5 * num_cols, 3.6 * num_rows), layout="constrained")
    grid = figure.subplots(num_rows, num_cols, squeeze=False).ravel()
    for ax in grid[len(order) :]:
        figure.delaxes(ax)
    for ax, panel in zip(grid, order):
        scores = panel is _SCORES  # equal scores (accuracy = UAR on balanced classes) are both drawn
        series = (
            [(n, n.rsplit("/", 1)[-1]) for n in panels[panel]]
            if scores
            else _merge_equal(columns, panels[panel])
        )
        _draw_panel(ax, columns, axes_values[panel.x], series, scores)
        if panel.log:
            ax.set_yscale("log", nonpositive="mask")  # a zero term (MMD of one item) is left out
        if panel.x == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel.title)
        ax.set_xlabel(panel.x)
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    where = "/".join(Path(metrics_csv_path).parts[-3:])
    figure.suptitle(f"Training curves ({where}): training solid, validation dashed with dots")
    return figure


def _merge_equal(columns: dict[str, np.ndarray], names: list[str]) -> list[tuple[str, str]]:
    """(column, legend label) of each distinct series of ``names``; a column equal to an earlier
    one (``loss_body`` = ``loss_body_heatmap`` when it has one term) joins its label."""
    kept: dict[str, list[str]] = {}
    for name in names:
        same = next((k for k in kept if np.array_equal(columns[k], columns[name], equal_nan=True)), None)
        kept.setdefault(same or name, []).append(name)
    return [(name, " = ".join(n.rsplit("/", 1)[-1] for n in equal)) for name, equal in kept.items()]


def _draw_panel(ax, columns: dict[str, np.ndarray], x: np.ndarray, series: list, scores: bool) -> None:
    """Lines of ``series`` (column, label) over ``x``: a colour per label, train solid, validation
    dashed with markers, each label in the legend once; scores each with a line style and marker
    of their own."""
    names = sorted({label for _, label in series})
    colors = dict(zip(names, _class_colors(len(names)), strict=True))
    seen: set[str] = set()
    for k, (name, label) in enumerate(series):
        keep = np.isfinite(columns[name]) & np.isfinite(x)
        ax.plot(
            x[keep],
            columns[name][keep],
            color=colors[label],
            label=None if label in seen else label,
            **_line_style(name, k, scores, keep.sum()),
        )
        seen.add(label)


def _line_style(name: str, k: int, scores: bool, num_points: int) -> dict:
    """Keyword arguments of ``Axes.plot`` for the ``k``-th series of a panel."""
    if scores:
        style, marker, filled = _SCORE_STYLES[k % len(_SCORE_STYLES)]
        return {"linestyle": style, "marker": marker, "ms": 4 if filled else 8} | (
            {} if filled else {"mfc": "none"}
        )
    if name.startswith("val/"):  # few points, drawn over the noisy training line
        return {"linestyle": "--", "marker": "o", "ms": 4, "linewidth": 1.8, "zorder": 3}
    return {"linestyle": "-", "marker": "o" if num_points < 30 else None, "ms": 3, "alpha": 0.6}


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
