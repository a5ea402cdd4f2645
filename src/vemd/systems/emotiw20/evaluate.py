"""``vemd test`` of an EmotiW 2020 model: video alone, audio alone and SVM-fused on a split.

The accuracy by group size is Table VI's by default (``system.emotiw20.group_sizes: paper``):
people are faces per frame averaged over the clip (the paper ran MTCNN on every frame; vemd's
annotation store, else its offline face detector on the frames the model reads), split into
fewer than 5 and 5 or more, for each branch and the fusion (``modalities.md``, ``metrics.json``'s
``group_size``; ``group_size.csv`` / ``.png`` show the fusion). ``group_sizes: buckets`` gives
vemd's report: ``--group-sizes`` buckets of the most people in any one frame.
``--group-sizes none`` turns either off.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vemd.data.multimodal import audio_path, read_waveforms
from vemd.io import atomic_write_text
from vemd.systems.base import Artifact, TestOptions
from vemd.systems.common import frames_of, open_for_test

log = logging.getLogger(__name__)
TABLE_VI_EDGES = (5,)  # Table VI: N < 5 vs N >= 5 faces


@torch.no_grad()
def evaluate_emotiw20(artifact: Artifact, options: TestOptions) -> dict:
    """Video alone, audio alone and SVM-fused on a split (accuracy with Wilson CI, F1, UAR,
    McNemar fused vs each branch).

    Every option of :class:`~vemd.systems.base.TestOptions` holds (:func:`vemd.systems.common.open_for_test`):
    ``split`` (default: the recipe's ``data.test_split``), ``out_dir`` (default:
    ``<model folder>/test-<split>``), ``data_cfg`` (its data section, batch size and workers),
    ``device``, ``precision`` (the branches' forward passes under autocast; their probabilities
    reach the SVM in float32) and ``group_sizes`` (the accuracy by people per clip, module
    docstring: ``group_size.csv`` / ``.png`` and ``metrics.json``'s ``group_size``; None: not
    reported; its edges apply with ``system.emotiw20.group_sizes: buckets`` only).
    Writes ``metrics.json``, ``predictions.csv`` (fused), ``confusion.png`` (fused),
    ``modalities.md`` (the per-branch table), and adds the scores to the model card when
    ``options.record`` asks.
    """
    from vemd.eval.compare import mcnemar
    from vemd.eval.group_size import group_size_report
    from vemd.eval.metrics import classification_metrics
    from vemd.eval.plots import plot_confusion
    from vemd.eval.report import modality_table, write_metrics_json, write_predictions_csv

    run, dataset = open_for_test(artifact, options)
    model, cfg, class_names, out = run.model, run.cfg, run.class_names, run.out
    e = cfg.system.emotiw20
    paths = [audio_path(r, dataset.root) for r in dataset.records]
    waves, present, _ = read_waveforms(
        paths, e.audio_seconds, workers=cfg.train.num_workers, skip_bad=cfg.data.skip_bad
    )
    video, audio = [], []
    for rows in torch.arange(len(dataset)).split(e.video.batch_size):
        with run.autocast():
            v, a = model.branch_probs(frames_of(dataset, rows).to(run.device), waves[rows].float().numpy())
        video.append(v)
        audio.append(a)
    video, audio = np.concatenate(video), np.concatenate(audio)
    y_true = np.array([class_names.index(r.label) for r in dataset.records])
    preds = {"video": video.argmax(1), "audio": audio.argmax(1), "fused": model.fused_labels(video, audio)}
    metrics = {name: classification_metrics(y_true, p, class_names) for name, p in preds.items()}
    correct = preds["fused"] == y_true
    tests = {f"fused_vs_{n}": mcnemar(correct, preds[n] == y_true) for n in ("video", "audio")}
    out.mkdir(parents=True, exist_ok=True)
    ids = [r.clip_id for r in dataset.records]
    write_predictions_csv(
        out / "predictions.csv", ids, y_true, preds["fused"], model.fused_probs(video, audio), class_names
    )
    extra = {
        "split": run.split,
        "checkpoint": str(run.checkpoint),
        "system": "emotiw20",
        "mcnemar": tests,
        "without_audio": int((~present).sum()),
    }
    if e.svm_refit_train_val and run.split == cfg.data.val_split:
        log.warning(
            "emotiw20: the SVM was refitted on split %r: its fused scores are not held out", run.split
        )
    table = modality_table(f"EmotiW 2020 system on split {run.split!r}", metrics, tests)
    if run.group_sizes is not None:
        paper = e.group_sizes == "paper"
        group = group_size_report(
            dataset,
            cfg.data,
            ids,
            correct,
            TABLE_VI_EDGES if paper else run.group_sizes,
            len(class_names),
            out,
            run.face_counter,
            people="mean_faces" if paper else "most",
            others={n: preds[n] == y_true for n in ("video", "audio")},
        )
        if group is not None:
            extra["group_size"] = group
            table += group_size_markdown(group)
    write_metrics_json(out / "metrics.json", {"modalities": metrics}, extra)
    plot_confusion(np.asarray(metrics["fused"]["confusion"]), class_names, out / "confusion.png")
    atomic_write_text(out / "modalities.md", table)
    short = {
        n: {"accuracy": m["accuracy"], "accuracy_ci95": m["accuracy_ci95"], "uar": m["uar"]}
        for n, m in metrics.items()
    }
    run.add_to_card({f"{n} accuracy": round(m["accuracy"], 4) for n, m in metrics.items()}, keys=None)
    return {"split": run.split, "modalities": short, "mcnemar": tests, "report": str(out)}


def group_size_markdown(group: dict) -> str:
    """Table VI's layout: the accuracy of each branch and the fusion per group-size bucket."""
    mean = group["people"] == "mean_faces"
    how = "faces per frame averaged over the clip" if mean else "most people in a frame"
    source = {"annotations": "the annotation store", "faces": "the face detector"}[group["source"]]
    rows = {**group["others"], "fused": group["buckets"]}
    buckets = [f"{b['bucket']} (n={b['clips']})" for b in group["buckets"]]
    lines = [
        "",
        f"Accuracy by group size ({how}, from {source}):",
        "",
        "| modality | " + " | ".join(buckets) + " |",
        "|---|" + "---|" * len(buckets),
    ]
    for name, by_bucket in rows.items():
        cells = ["–" if b["accuracy"] is None else f"{b['accuracy'] * 100:.1f} %" for b in by_bucket]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
