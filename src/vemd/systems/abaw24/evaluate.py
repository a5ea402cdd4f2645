"""``vemd test`` of an ABAW 2024 model, and what it is scored by: each frame's valence/arousal
target (:func:`frame_targets`) and the CCC per dimension (:func:`ccc_scores`, the challenge
score; training selects on it too)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from vemd.data.dataset import collate
from vemd.io import atomic_write_text
from vemd.models.regression import ccc
from vemd.systems.abaw24.model import DIMENSIONS
from vemd.systems.base import Artifact, TestOptions
from vemd.systems.common import open_for_test


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


def batches(dataset, rows: torch.Tensor, size: int):
    """(rows, collated batch) of a ClipDataset's ``rows``, ``size`` at a time."""
    for part in rows.split(size):
        yield part, collate([dataset[int(i)] for i in part])


@torch.no_grad()
def evaluate_abaw24(artifact: Artifact, options: TestOptions) -> dict:
    """CCC per dimension and their mean, frame-wise, of every model and the fusion on a split.

    The common options of :class:`~vemd.systems.base.TestOptions` hold
    (:func:`vemd.systems.common.open_for_test`): ``split`` (default: the recipe's
    ``data.test_split``), ``out_dir`` (default: ``<model folder>/test-<split>``), ``data_cfg``
    (its data section, batch size and workers), ``device`` and ``precision`` (the backbone and
    transformer under autocast; the KELM and the fusion read their outputs in float64).
    ``group_sizes`` writes nothing here: the group-size table is the accuracy of the clips in each
    bucket of people, and a valence/arousal system predicts no class, so no clip is right or
    wrong (a CCC per bucket of a few clips would say little).

    Writes ``metrics.json``, ``va.md`` (the table) and ``predictions.csv`` (one row per item:
    its mean fused valence/arousal and targets) into the report folder, and adds the scores to
    the model card when ``options.record`` asks.
    """
    from vemd.eval.report import write_metrics_json

    run, dataset = open_for_test(artifact, options, group_sizes=False)
    model, cfg, out = run.model, run.cfg, run.out
    preds: dict[str, list[np.ndarray]] = {}
    targets, ids = [], []
    for _, batch in batches(dataset, torch.arange(len(dataset)), cfg.system.abaw24.dynamic.batch_size):
        with run.autocast():
            predicted = model.all_predictions(batch["frames"].to(run.device))
        for name, value in predicted.items():
            preds.setdefault(name, []).append(value)
        targets.append(frame_targets(batch).double().numpy())
        ids += batch["clip_id"]
    target = np.concatenate(targets)
    per_model = {name: np.concatenate(parts) for name, parts in preds.items()}
    metrics = {name: ccc_scores(p.reshape(-1, 2), target.reshape(-1, 2)) for name, p in per_model.items()}
    out.mkdir(parents=True, exist_ok=True)
    labelled = int(np.isfinite(target.reshape(-1, 2)).all(axis=1).sum())
    write_metrics_json(
        out / "metrics.json",
        {"models": metrics, **metrics["fused"]},
        {
            "split": run.split,
            "checkpoint": str(run.checkpoint),
            "system": "abaw24",
            "items": len(ids),
            "labelled_frames": labelled,
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
    lines = [
        f"# ABAW 2024 system on split {run.split!r} (frame-wise CCC, {labelled} labelled frames)",
        "",
        "| model | valence CCC | arousal CCC | mean |",
        "|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['valence_ccc']:.4f} | {m['arousal_ccc']:.4f} | {m['mean_ccc']:.4f} |")
    atomic_write_text(out / "va.md", "\n".join(lines) + "\n")
    run.add_to_card({f"{n} mean CCC": round(m["mean_ccc"], 4) for n, m in metrics.items()}, keys=None)
    return {"split": run.split, "models": metrics, "report": str(out)}
