"""Files ``vemd predict --out`` writes: results, a timeline table and timeline plots."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from vemd.eval.plots import plot_timeline
from vemd.inference.predictor import VALENCE_KEY
from vemd.structure import atomic_write_text


def write_prediction_report(results: list[dict], class_names: list[str], out: Path) -> None:
    """``predictions.json`` (all results), ``timeline.csv`` (one row per window), PNGs of videos.

    ``timeline.csv`` ends with a ``valence`` column when the model has a valence head.
    """
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "predictions.json", json.dumps(results, indent=2))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    valence = any(VALENCE_KEY in r for r in results)
    header = ["input", "start", "end", "label", *[f"prob_{c}" for c in class_names]]
    writer.writerow(header + ([VALENCE_KEY] if valence else []))
    for result in results:
        for w in result["windows"]:
            row = [result["input"], f"{w['start']:.3f}", f"{w['end']:.3f}", w["label"], *w["probs"].values()]
            writer.writerow(row + ([w.get(VALENCE_KEY, "")] if valence else []))
    atomic_write_text(out / "timeline.csv", buffer.getvalue())
    for number, result in enumerate(results):
        if len(result["windows"]) > 1:
            windows = [{**w, "probs": [w["probs"][c] for c in class_names]} for w in result["windows"]]
            plot_timeline(
                windows, class_names, out / f"timeline-{number:03d}-{Path(result['input']).stem}.png"
            )
