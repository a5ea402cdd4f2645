"""``vemd test``: a trained model on one split, with the paper's statistics (paper §8).

Writes into the output folder: ``metrics.json``, ``predictions.csv``, ``confusion.png``,
``group_size.csv`` / ``group_size.png`` (accuracy by number of people, when they can be
counted: :mod:`vemd.eval.group_size`), the resolved ``config.yaml``, and for VE-MD-SR
heatmap models asked for it (``save_frames``, ``vemd test --save-frames``) ``sr_heatmaps.png``
(predicted vs. target SR maps over a few test frames, shown under them, as the paper's
Figure 8; the first SR modality's, then ``sr_heatmaps_<modality>.png`` for each other one:
:func:`sr_figure_name`). Nothing else: the model card changes only with ``record``
(``vemd test --record``).

A model with a valence head (``model.valence_head``) adds its valence to ``predictions.csv``;
on a split with valence targets (MER2023) ``metrics.json`` gains ``valence_mse``,
``valence_ccc``, ``valence_mae`` over the items with a target and MER2023's ``mer_score`` =
``f1_weighted − 0.25·valence_mse``, the MER-MULTI figure of the paper's §8.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from vemd.config import to_yaml
from vemd.data.dataset import usable
from vemd.errors import DataError
from vemd.eval.group_size import group_size_report
from vemd.eval.metrics import classification_metrics, mer_score, regression_metrics
from vemd.eval.plots import plot_confusion, plot_sr_heatmaps
from vemd.eval.report import write_metrics_json, write_predictions_csv
from vemd.eval.run import open_split
from vemd.io import atomic_write_text

log = logging.getLogger(__name__)


@torch.no_grad()
def evaluate_vemd(artifact, options) -> dict:
    """Metrics of a loaded VE-MD (a :class:`vemd.systems.Artifact`) on a split; reports in a folder.

    ``options`` (:class:`vemd.systems.TestOptions`): ``split`` defaults to the recipe's
    ``data.test_split`` (``data_cfg``'s when given, else the one saved with the model),
    ``out_dir`` to ``<model folder>/test-<split>``; the model runs on ``device`` in ``precision``
    (:mod:`vemd.device`: bf16 autocast on a GPU by default). ``group_sizes`` are the
    bucket edges of the accuracy by number of people (:mod:`vemd.eval.group_size`; None: not
    reported), counted from the annotation store, else by ``options.face_counter`` when the
    caller gives one (evaluation imports no annotator). The result holds the metrics plus
    ``split`` and ``report`` (the output folder).
    """
    from vemd.data.build import build_dataset, eval_loader

    run = open_split(artifact, options)
    model, cfg, class_names, checkpoint = run.model, run.cfg, run.class_names, run.checkpoint
    split, out, device, group_sizes = run.split, run.out, run.device, run.group_sizes
    log.info("evaluating %s on split %r of %s", checkpoint, split, cfg.data.root)
    stage1 = model.stage == "1"
    sr_figure = cfg.model.mode == "ve-md-sr" and cfg.model.decoder == "heatmap" and not stage1
    sr_figure = sr_figure and run.save_frames  # it shows test frames: written only when asked
    dataset, index = build_dataset(cfg, split, train=False, stage="2" if sr_figure else "1")
    if index.class_names != class_names:
        log.warning(
            "class names of %s differ from the model's: %s vs %s", index.root, index.class_names, class_names
        )
    ids, labels, probs, valence, valence_true, figures = [], [], [], [], [], {}
    for batch in map(usable, eval_loader(cfg, dataset)):
        if batch is None:
            continue
        with run.autocast():
            output = model.classify(model.preprocess(batch["frames"].to(device)))
        if sr_figure and not figures:  # the first batch's frames, one figure per modality
            figures = {name: _sr_pairs(output, batch, name) for name in cfg.model.sr.modalities}
        logits = output.logits
        if output.valence is not None:
            valence.append(output.valence.float().cpu().numpy())
        ids += batch["clip_id"]
        valence_true.append(batch["valence"].numpy())
        labels.append(batch["label"].numpy())
        probs.append(logits.float().softmax(-1).cpu().numpy())
    if not ids:
        raise DataError(f"{index.root}: no readable item in split {split!r}")
    y_true, probs = np.concatenate(labels), np.concatenate(probs)
    y_pred = probs.argmax(1)
    metrics = classification_metrics(y_true, y_pred, class_names)
    valence = np.concatenate(valence) if valence else None
    valence_true = np.concatenate(valence_true)
    if valence is not None:
        metrics |= valence_metrics(valence_true, valence, metrics["f1_weighted"])
    out.mkdir(parents=True, exist_ok=True)
    write_predictions_csv(
        out / "predictions.csv",
        ids,
        y_true,
        y_pred,
        probs,
        class_names,
        valence=None if valence is None else (valence, valence_true),
    )
    if group_sizes is not None:
        by_size = group_size_report(
            dataset,
            cfg.data,
            ids,
            y_true == y_pred,
            group_sizes,
            len(class_names),
            out,
            face_counter=run.face_counter,
        )
        if by_size is not None:
            metrics["group_size"] = by_size
    write_metrics_json(out / "metrics.json", metrics, {"split": split, "checkpoint": str(checkpoint)})
    atomic_write_text(out / "config.yaml", to_yaml(cfg))
    plot_confusion(np.asarray(metrics["confusion"]), class_names, out / "confusion.png")
    for number, (name, (predicted, target, frames, titles)) in enumerate(figures.items()):
        plot_sr_heatmaps(
            predicted,
            target,
            out / sr_figure_name(number, name),
            frames=frames,
            column_titles=titles,
            title=f"{name} SR: target vs predicted",
        )
    run.add_to_card(metrics)
    return {**metrics, "split": split, "report": str(out)}


def sr_figure_name(number: int, modality: str) -> str:
    """The SR figure of the ``number``-th SR modality: ``sr_heatmaps.png`` for the first (the name
    single-modality models have always written), ``sr_heatmaps_<modality>.png`` after it."""
    return "sr_heatmaps.png" if number == 0 else f"sr_heatmaps_{modality}.png"


def valence_metrics(y_true: np.ndarray, y_pred: np.ndarray, f1_weighted: float) -> dict:
    """Valence CCC/MSE/MAE over the items whose target ``y_true`` (N,) is not NaN, and
    MER2023's ``mer_score``; empty when no item has a target."""
    has_target = ~np.isnan(y_true)
    if not has_target.any():
        return {}
    regression = regression_metrics(y_true[has_target], y_pred[has_target])
    return {
        "num_valence_items": int(has_target.sum()),
        "valence_ccc": regression["ccc"],
        "valence_mse": regression["mse"],
        "valence_mae": regression["mae"],
        "mer_score": mer_score(f1_weighted, regression["mse"]),
    }


def _sr_pairs(output, batch: dict, modality: str, min_panels: int = 4):
    """Predicted and target SR maps (n, L, 56, 56), frames (n, H, W, 3) and column titles.

    The frames of the first clip (the paper's Figure 8); clips shorter than ``min_panels``
    frames (single images) are followed by the next clips of the batch.
    """
    pred = output.structure(modality)
    if pred is None or "heatmaps" not in batch:
        return None
    b, t = batch["frames"].shape[:2]
    n = min(b * t, max(t, min_panels))
    predicted = pred["pred_heatmaps"][:n].float().sigmoid().cpu().numpy()  # (n, L, 56, 56), logits → [0, 1]
    target = batch["heatmaps"][modality].flatten(0, 1)[:n].float().numpy()
    frames = batch["frames"].flatten(0, 1)[:n].permute(0, 2, 3, 1).numpy()
    titles = [f"{batch['clip_id'][i // t]}" + (f" frame {i % t}" if t > 1 else "") for i in range(n)]
    return predicted, target, frames, titles
