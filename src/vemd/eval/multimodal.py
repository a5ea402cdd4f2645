"""``vemd test`` of a multimodal model: each modality alone and fused, side by side (paper Table 12).

For every modality the model has (video, audio, text) the branch's own classifier is scored,
then the fusion: accuracy with its Wilson 95 % interval, weighted and macro F1, UAR, and
McNemar's test (exact below 25 discordant clips, else χ² with continuity correction) of the fused predictions against each branch alone (the same clips).
The report folder holds ``metrics.json`` (one entry per modality and ``fused``),
``predictions.csv`` (the fused model's), ``modalities.md`` (the Table 12 row) and the fused
confusion matrix. Clips without audio count for the video and fused scores; the audio-only
score is over the clips that have audio (its count is in the report).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vemd.config import Config, to_yaml
from vemd.data.multimodal import split_inputs
from vemd.eval.compare import mcnemar
from vemd.eval.group_size import check_edges, group_size_report
from vemd.eval.metrics import classification_metrics
from vemd.eval.plots import plot_confusion
from vemd.eval.report import modality_table, write_metrics_json, write_predictions_csv
from vemd.eval.run import open_split
from vemd.io import atomic_write_text
from vemd.models.multimodal import FrozenVideo
from vemd.models.text import text_source

log = logging.getLogger(__name__)


@torch.no_grad()
def evaluate_multimodal(artifact, options) -> dict:
    """Metrics of each modality and of the fusion of a loaded multimodal model on a split
    (``options``: :class:`vemd.systems.TestOptions`); reports in its folder."""
    run = open_split(artifact, options)
    model, cfg, class_names, checkpoint = run.model, run.cfg, run.class_names, run.checkpoint
    split, out, device = run.split, run.out, run.device
    log.info("evaluating %s on split %r of %s (each modality and fused)", checkpoint, split, cfg.data.root)
    source = text_source(cfg) if model.text is not None else None
    # a multimodal config's model section is its VE-MD's (vemd fit copies it), so it reads the frames
    with run.autocast():
        inputs = split_inputs(
            cfg, split, FrozenVideo(model.video), cfg, folder=None, device=device, text_source=source
        )
    logits: dict[str, list[torch.Tensor]] = {}
    for rows in torch.arange(len(inputs)).split(cfg.multimodal.batch_size):
        with run.autocast():
            features = {"video": inputs.video.index(rows).to(device)}
            if model.audio is not None:
                present = inputs.audio_present[rows].to(device)
                features["audio"] = model.audio(inputs.waveforms[rows].float().to(device), present)
            if model.text is not None:
                features["text"] = model.text(
                    inputs.text[rows].to(device), inputs.text_present[rows].to(device)
                )
            fused = model.fuse(features)
        for name, f in features.items():
            logits.setdefault(name, []).append(f.logits.float().cpu())
        logits.setdefault("fused", []).append(fused.float().cpu())
    y_true = inputs.labels.numpy()
    preds = {name: torch.cat(parts).argmax(-1).numpy() for name, parts in logits.items()}
    scored = {
        "audio": inputs.audio_present.numpy() if model.audio is not None else None,
        "text": inputs.text_present.numpy() if model.text is not None else None,
    }
    metrics: dict = {}
    for name, y_pred in preds.items():
        keep = scored.get(name)
        keep = np.ones(len(y_true), dtype=bool) if keep is None else keep
        metrics[name] = (
            classification_metrics(y_true[keep], y_pred[keep], class_names) if keep.any() else None
        )
    fused_correct = preds["fused"] == y_true
    tests = {
        f"fused_vs_{name}": mcnemar(fused_correct, preds[name] == y_true) for name in preds if name != "fused"
    }
    out.mkdir(parents=True, exist_ok=True)
    fused_probs = torch.cat(logits["fused"]).softmax(-1).numpy()
    write_predictions_csv(
        out / "predictions.csv", inputs.clip_ids, y_true, preds["fused"], fused_probs, class_names
    )
    extra = {"split": split, "checkpoint": str(checkpoint), "mcnemar": tests, "counts": inputs.counts}
    if run.group_sizes is not None:  # faces counted by the caller's counter: evaluation imports no annotator
        by_size = _group_sizes(
            cfg, split, inputs.clip_ids, fused_correct, run.group_sizes, out, run.face_counter
        )
        if by_size is not None:
            extra["group_size"] = by_size
    write_metrics_json(out / "metrics.json", {"modalities": metrics}, extra)
    atomic_write_text(out / "config.yaml", to_yaml(cfg))
    mm = cfg.multimodal
    notes = [
        f"Audio encoder `{mm.audio.encoder}`, fusion `{mm.fusion.kind}` over {', '.join(mm.fusion.modalities)}."
    ]
    table = modality_table(f"Each modality alone and fused ({split} split)", metrics, tests, notes)
    atomic_write_text(out / "modalities.md", table)
    plot_confusion(np.asarray(metrics["fused"]["confusion"]), class_names, out / "confusion.png")
    run.add_to_card(metrics["fused"])  # the fused scores
    summary = {name: _short(m) for name, m in metrics.items()}
    result = {"split": split, "modalities": summary, "mcnemar": tests, "report": str(out)}
    return result | ({"group_size": extra["group_size"]} if "group_size" in extra else {})


def _group_sizes(
    cfg: Config, split: str, clip_ids, correct: np.ndarray, edges, out: Path, face_counter=None
) -> dict | None:
    """The fused model's accuracy by number of people per clip (:mod:`vemd.eval.group_size`)."""
    from vemd.data.build import build_dataset

    dataset, _ = build_dataset(cfg, split, train=False, stage="1")
    edges, n = check_edges(edges), cfg.model.num_classes
    return group_size_report(dataset, cfg.data, list(clip_ids), correct, edges, n, out, face_counter)


def _short(m: dict | None) -> dict | None:
    if m is None:
        return None
    return {k: m[k] for k in ("accuracy", "accuracy_ci95", "f1_weighted", "uar", "num_items")}
