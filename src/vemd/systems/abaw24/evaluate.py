"""``vemd test`` of an ABAW 2024 model, and what it is scored by: each frame's valence/arousal
target (:func:`frame_targets`) and the CCC per dimension (:func:`ccc_scores`, the challenge
score; training selects on it too, over the sampled frames).

The reported CCC follows the paper's protocol (ABAW 2024 §4.3; its Table 5 numbers include it,
:func:`protocol_ccc`): per video, the predictions at the sampled source frames are linearly
interpolated to every frame of the video (held before the first and after the last sampled
frame), each of valence and arousal is smoothed with a normalised Hamming window of
``system.abaw24.smoothing_s`` seconds at the video's frame rate (§4.3; 0: none), and the CCC is
computed over every annotated frame of all the videos concatenated, as the challenge scores. A
video is one per-frame annotation file (``va_file``) of one media source: the windows an
AffWild2 video is cut into are put together again; its frames are those its items span
(``start_frame``/``end_frame``, else the whole source). Two kinds of item depart from it, each
counted in ``metrics.json`` (``protocol``) and named in a log line:

* a source without a frame rate (a frame folder, an image): interpolated to every frame, not
  smoothed (a window in seconds has no length in frames there, and none is guessed);
* an item without a per-frame annotation file (clip-level valence/arousal only): scored at its
  sampled frames against its clip values, as training scores it.

``ccc_sampled`` (in ``metrics.json`` and the result) keeps the CCC of the sampled frames alone,
without interpolation or smoothing, for comparison.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from vemd.data.dataset import collate, source_span
from vemd.data.media import SourceInfo, probe
from vemd.data.va import read_va_file
from vemd.inference.smoothing import frame_series
from vemd.io import atomic_write_text
from vemd.models.regression import ccc
from vemd.systems.abaw24.faces import FaceBoxes, split_dataset
from vemd.systems.abaw24.model import DIMENSIONS
from vemd.systems.base import Artifact, TestOptions

log = logging.getLogger(__name__)


def frame_targets(batch: dict) -> torch.Tensor:
    """(B, T, 2) per-frame targets: the item's ``va``; an item with no per-frame value at all
    (no ``va_file``) takes its clip valence/arousal on every frame. NaN: no target (an
    AffWild2 frame marked -5 stays unlabelled, as the challenge scores annotated frames only)."""
    per_frame = batch["va"].clone()
    clip = torch.stack([batch["valence"], batch["arousal"]], dim=1)[:, None, :].expand_as(per_frame)
    without = torch.isnan(per_frame).flatten(1).all(1)  # (B,) items without per-frame values
    per_frame[without] = clip[without]
    return per_frame


def ccc_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """CCC (Eq. 2) of (N, 2) predictions per dimension over the valid frames, and their mean."""
    values = ccc(
        torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64)
    ).tolist()
    out = {f"{d}_ccc": float(v) for d, v in zip(DIMENSIONS, values)}
    out["mean_ccc"] = float(np.nanmean(values)) if not all(math.isnan(v) for v in values) else float("nan")
    return out


def frame_predictions(
    indices: np.ndarray, pred: np.ndarray, frames: int, *, fps: float, seconds: float | None
) -> np.ndarray:
    """ABAW 2024 §4.3: (T, C) predictions at source frame ``indices`` (T,) → (``frames``, C),
    one per frame 0 … frames − 1: linearly interpolated (``np.interp``, held before the first and
    after the last sampled frame; a frame sampled twice takes the mean of its predictions), then
    smoothed with a normalised Hamming window of ``seconds`` at ``fps`` frames per second
    (:func:`vemd.inference.smoothing.frame_series`, which ``vemd predict --smooth`` shares;
    ``seconds`` 0 or None, or ``fps`` ≤ 0: not smoothed)."""
    return frame_series(indices, pred, np.arange(frames), rate=fps, seconds=seconds)


def protocol_ccc(
    videos: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, float]], seconds: float | None
) -> dict[str, float]:
    """:func:`ccc_scores` of the paper's protocol (ABAW 2024 §4.3, module docstring): each video
    ``(indices (T,), pred (T, 2), target (F, 2), fps)``, its predictions at source frames
    ``indices`` and its targets on every frame 0 … F − 1 (NaN: not annotated), is brought to
    every frame by :func:`frame_predictions`; the CCC is over the annotated frames of all of them."""
    preds, targets = [], []
    for indices, pred, target, fps in videos:
        preds.append(frame_predictions(indices, pred, len(target), fps=fps, seconds=seconds))
        targets.append(np.asarray(target, dtype=np.float64))
    return ccc_scores(np.concatenate(preds), np.concatenate(targets))


class Videos:
    """A split's sampled predictions put together per video, for :func:`protocol_ccc`: one
    video per (source, ``va_file``); an item without a ``va_file`` stays on its own, at its
    sampled frames (module docstring)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        self.parts: dict[tuple, dict] = {}
        self.probes: dict[str, SourceInfo] = {}  # an AffWild2 video's windows share one probe

    def add(
        self, row: int, indices: np.ndarray, predictions: dict[str, np.ndarray], sampled_target: np.ndarray
    ) -> None:
        """Item ``row`` of the dataset: the (T,) source frames it was read at (its sample's
        ``frame_indices``), every model's (T, 2) predictions and its (T, 2) targets at those frames
        (:func:`frame_targets`)."""
        record = self.dataset.records[row]
        if record.va_file is None:
            indices = [np.arange(len(sampled_target))]
            part = self.parts[("item", row)] = {
                "target": sampled_target,
                "fps": 0.0,
                "indices": indices,
                "preds": {},
            }
        else:
            va = self.dataset.root / record.va_file  # an absolute va_file stays itself
            source = str(self.dataset.media_path(record))
            if source not in self.probes:
                self.probes[source] = probe(source)
            info = self.probes[source]
            key = (source, str(va))
            part = self.parts.setdefault(
                key, {"va": va, "fps": info.fps, "spans": [], "indices": [], "preds": {}}
            )
            part["indices"].append(np.asarray(indices))
            part["spans"].append(source_span(record, info.num_frames))
        for name, value in predictions.items():
            part["preds"].setdefault(name, []).append(value)

    def _target(self, part: dict) -> np.ndarray:
        """(F, 2) targets of a video's frames 0 … F − 1: its file's, NaN outside its items' spans."""
        if "va" not in part:
            return part["target"]
        values = read_va_file(str(part["va"]))
        frames = max(end for _, end in part["spans"])
        target = np.full((frames, 2), np.nan)
        for first, end in part["spans"]:
            stop = min(end, len(values))
            target[first:stop] = values[first:stop]
        return target

    def scores(self, seconds: float | None) -> tuple[dict[str, dict[str, float]], dict]:
        """(:func:`protocol_ccc` of every model, what was scored how: frame and video counts)."""
        targets = {key: self._target(part) for key, part in self.parts.items()}
        names = next(iter(self.parts.values()))["preds"] if self.parts else {}
        metrics = {
            name: protocol_ccc(
                (
                    (np.concatenate(p["indices"]), np.concatenate(p["preds"][name]), targets[k], p["fps"])
                    for k, p in self.parts.items()
                ),
                seconds,
            )
            for name in names
        }
        videos = [p for p in self.parts.values() if "va" in p]
        scored = np.concatenate(list(targets.values())) if targets else np.zeros((0, 2))
        facts = {
            "smoothing_s": float(seconds or 0.0),
            "videos": len(videos),
            "videos_without_frame_rate": sum(p["fps"] <= 0 for p in videos),  # interpolated, not smoothed
            "items_at_sampled_frames": len(self.parts) - len(videos),  # without a va_file
            "labelled_frames": int(np.isfinite(scored).all(axis=1).sum()),
        }
        return metrics, facts


def batches(dataset, rows: torch.Tensor, size: int):
    """(rows, collated batch) of a ClipDataset's ``rows``, ``size`` at a time."""
    for part in rows.split(size):
        yield part, collate([dataset[int(i)] for i in part])


@torch.no_grad()
def evaluate_abaw24(artifact: Artifact, options: TestOptions) -> dict:
    """CCC per dimension and their mean of every model and the fusion on a split, by the paper's
    protocol (ABAW 2024 §4.3: interpolated to every frame, smoothed, every annotated frame scored;
    module docstring), and ``ccc_sampled``: the same at the sampled frames alone.

    The common options of :class:`~vemd.systems.base.TestOptions` hold
    (:func:`vemd.eval.run.open_split`): ``split`` (default: the recipe's
    ``data.test_split``), ``out_dir`` (default: ``<model folder>/test-<split>``), ``data_cfg``
    (its data section, batch size and workers), ``device`` and ``precision`` (the backbone and
    transformer under autocast; the KELM and the fusion read their outputs in float64).
    ``group_sizes`` writes nothing here: the group-size table is the accuracy of the clips in each
    bucket of people, and a valence/arousal system predicts no class, so no clip is right or
    wrong (a CCC per bucket of a few clips would say little).

    Writes ``metrics.json``, ``va.md`` (the table) and ``predictions.csv`` (one row per item:
    its mean fused valence/arousal and targets over its sampled frames) into the report folder,
    and adds the protocol's scores to the model card when ``options.record`` asks.
    """
    from vemd.eval.report import write_metrics_json
    from vemd.eval.run import open_split

    run = open_split(artifact, options, group_sizes=False)
    model, cfg, out = run.model, run.cfg, run.out
    # the faces fit found in this model's folder are read, not searched again
    boxes = FaceBoxes(Path(artifact.path).parent / "abaw24" / "faces")
    dataset, _ = split_dataset(cfg, run.split, train=False, boxes=boxes)
    seconds = cfg.system.abaw24.smoothing_s
    preds: dict[str, list[np.ndarray]] = {}
    targets, ids = [], []
    videos = Videos(dataset)
    for _, batch in batches(dataset, torch.arange(len(dataset)), cfg.system.abaw24.dynamic.batch_size):
        with run.autocast():
            predicted = model.all_predictions(batch["frames"].to(run.device))
        for name, value in predicted.items():
            preds.setdefault(name, []).append(value)
        target = frame_targets(batch).double().numpy()
        for i, row in enumerate(batch["index"].tolist()):
            frames = batch["frame_indices"][i].numpy()
            videos.add(row, frames, {name: value[i] for name, value in predicted.items()}, target[i])
        targets.append(target)
        ids += batch["clip_id"]
    target = np.concatenate(targets)
    per_model = {name: np.concatenate(parts) for name, parts in preds.items()}
    sampled = {name: ccc_scores(p.reshape(-1, 2), target.reshape(-1, 2)) for name, p in per_model.items()}
    metrics, protocol = videos.scores(seconds)
    if protocol["videos_without_frame_rate"] or protocol["items_at_sampled_frames"]:
        log.warning(
            "abaw24 test: %d of %d video(s) have no frame rate (interpolated, not smoothed); "
            "%d item(s) without a per-frame file scored at their sampled frames",
            protocol["videos_without_frame_rate"],
            protocol["videos"],
            protocol["items_at_sampled_frames"],
        )
    out.mkdir(parents=True, exist_ok=True)
    labelled = protocol["labelled_frames"]
    write_metrics_json(
        out / "metrics.json",
        {"models": metrics, **metrics["fused"], "ccc_sampled": sampled},
        {
            "split": run.split,
            "checkpoint": str(run.checkpoint),
            "system": "abaw24",
            "items": len(ids),
            "labelled_frames": labelled,
            "protocol": protocol,
        },
    )
    rows = ["clip_id,valence,arousal,valence_target,arousal_target"]
    fused = per_model["fused"]
    for i, clip_id in enumerate(ids):
        with warnings.catch_warnings():  # a dimension without any target: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_t = np.nanmean(target[i], axis=0)
        rows.append(",".join([clip_id, *(f"{x:.6f}" for x in (*fused[i].mean(0), *mean_t))]))
    atomic_write_text(out / "predictions.csv", "\n".join(rows) + "\n")
    smoothing = f"{seconds:g}-s Hamming smoothing" if seconds else "no smoothing"
    lines = [
        f"# ABAW 2024 system on split {run.split!r} (frame-wise CCC, {labelled} labelled frames)",
        "",
        f"Predictions interpolated to every frame, {smoothing} at the video's frame rate, CCC over "
        "every annotated frame (ABAW 2024 §4.3); the last column: the mean CCC of the sampled frames alone.",
        "",
        "| model | valence CCC | arousal CCC | mean | mean (sampled frames) |",
        "|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lines.append(
            f"| {name} | {m['valence_ccc']:.4f} | {m['arousal_ccc']:.4f} | {m['mean_ccc']:.4f} "
            f"| {sampled[name]['mean_ccc']:.4f} |"
        )
    atomic_write_text(out / "va.md", "\n".join(lines) + "\n")
    run.add_to_card({f"{n} mean CCC": round(m["mean_ccc"], 4) for n, m in metrics.items()}, keys=None)
    return {"split": run.split, "models": metrics, "ccc_sampled": sampled, "report": str(out)}
