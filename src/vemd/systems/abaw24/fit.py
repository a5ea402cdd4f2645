"""Training of the ABAW 2024 system (``vemd fit`` of ``system.kind: abaw24``).

The static model, then the dynamic model over its frozen embeddings, the KELM over their
functionals (C chosen on the validation split) and the decision fusion fitted on the validation
split (:mod:`vemd.systems.abaw24`). The static and dynamic models train with
:func:`vemd.train.epochs.train_epochs` into ``<out>/abaw24/<stage>/`` (resumable, exact after a
kill; a resume under other settings is refused by :mod:`vemd.train.resume`).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vemd.config import Config
from vemd.data.dataset import collate
from vemd.io import atomic_write_text
from vemd.models.regression import regression_loss
from vemd.systems.abaw24.evaluate import batches, ccc_scores, frame_targets
from vemd.systems.abaw24.fusion import dirichlet_fusion_search
from vemd.systems.abaw24.kelm import KELM
from vemd.systems.abaw24.model import ABAW24, functional_windows
from vemd.systems.common import save_system, split_data, start_run
from vemd.train.epochs import train_epochs
from vemd.train.resume import stage_setting

log = logging.getLogger(__name__)


def _loss(name: str):
    loss = regression_loss(name)

    def total(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # (N, 2) each
        return sum(loss(pred[:, d], target[:, d]) for d in range(2))

    return total


@torch.no_grad()
def embeddings_of(model: ABAW24, dataset, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Frozen static embeddings (N, T, D) and targets (N, T, 2) of every item of a dataset."""
    model.eval()
    embeds, targets, ids = [], [], []
    for _, batch in batches(dataset, torch.arange(len(dataset)), batch_size):
        embeds.append(model.embed(batch["frames"]))
        targets.append(frame_targets(batch))
        ids += batch["clip_id"]
    return torch.cat(embeds), torch.cat(targets), ids


def fit_abaw24(cfg: Config, *, resume: bool = False, title: str = "") -> dict:
    """Static model, dynamic model, KELM, fusion; writes ``model.pt``, ``fit.json`` and the card."""
    a = cfg.system.abaw24
    out, folder = start_run(cfg, resume=resume)
    torch.manual_seed(cfg.train.seed)
    model = ABAW24(cfg)
    train, index = split_data(cfg, cfg.data.train_split, train=True)
    train_plain, _ = split_data(cfg, cfg.data.train_split, train=False)
    val, _ = split_data(cfg, cfg.data.val_split, train=False)
    loss, static_loss_fn = _loss(a.loss), _loss(a.static_loss)
    log.info("abaw24: %d training, %d validation items", len(train), len(val))

    # static model: backbone + head on single frames (a frozen VE-MD backbone: the head alone,
    # on embeddings computed once)
    static = nn.ModuleDict({"backbone": model.backbone, "head": model.static_head})
    emb = None
    if model.frozen_backbone:
        emb = {
            "train": embeddings_of(model, train_plain, a.static.batch_size),
            "val": embeddings_of(model, val, a.static.batch_size),
        }

    def head(split: str, rows) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tanh(model.static_head(emb[split][0][rows])).reshape(-1, 2), emb[split][1][rows].reshape(
            -1, 2
        )

    def static_loss(rows):
        if emb is not None:
            return static_loss_fn(*head("train", rows))
        batch = collate([train[int(i)] for i in rows])
        return static_loss_fn(
            model.static(batch["frames"]).reshape(-1, 2), frame_targets(batch).reshape(-1, 2)
        )

    def static_score():
        if emb is not None:
            pred, target = head("val", torch.arange(len(val)))
            return ccc_scores(pred.numpy(), target.numpy())["mean_ccc"]
        preds, targets = [], []
        for _, batch in batches(val, torch.arange(len(val)), a.static.batch_size):
            preds.append(model.static(batch["frames"]).reshape(-1, 2))
            targets.append(frame_targets(batch).reshape(-1, 2))
        return ccc_scores(torch.cat(preds).numpy(), torch.cat(targets).numpy())["mean_ccc"]

    scores = {}
    scores["static"] = train_epochs(
        "abaw24 static",
        1,
        static,
        [p for p in static.parameters() if p.requires_grad],
        loss_of=static_loss,
        score_of=static_score,
        train_rows=torch.arange(len(train)),
        schedule=a.static,
        seed=cfg.train.seed,
        folder=folder / "static",
        setting=stage_setting(cfg, "static"),
        resume=resume,
        on_epoch=train.set_epoch,
    )
    for p in static.parameters():
        p.requires_grad_(False)

    # frozen embeddings → dynamic model
    if emb is None:
        emb = {
            "train": embeddings_of(model, train_plain, a.dynamic.batch_size),
            "val": embeddings_of(model, val, a.dynamic.batch_size),
        }

    def dynamic_loss(rows):
        return loss(model.dynamic(emb["train"][0][rows]).reshape(-1, 2), emb["train"][1][rows].reshape(-1, 2))

    def dynamic_score():
        pred = model.dynamic(emb["val"][0]).reshape(-1, 2)
        return ccc_scores(pred.numpy(), emb["val"][1].reshape(-1, 2).numpy())["mean_ccc"]

    scores["dynamic"] = train_epochs(
        "abaw24 dynamic",
        2,
        model.dynamic,
        list(model.dynamic.parameters()),
        loss_of=dynamic_loss,
        score_of=dynamic_score,
        train_rows=torch.arange(len(train)),
        schedule=a.dynamic,
        seed=cfg.train.seed,
        folder=folder / "dynamic",
        setting=stage_setting(cfg, "dynamic"),
        resume=resume,
    )

    # functionals + KELM, C chosen on the validation split
    scores["kelm"], chosen_C = _fit_kelm(model, emb, a)

    # decision fusion on the validation split
    with torch.no_grad():
        dynamic_val = model.dynamic(emb["val"][0]).double().numpy().reshape(-1, 2)
    kelm_val = model.kelm_frames(emb["val"][0]).reshape(-1, 2)
    targets_val = emb["val"][1].double().numpy().reshape(-1, 2)
    preds = np.stack([dynamic_val, kelm_val])
    if a.fusion == "dirichlet":
        found = dirichlet_fusion_search(preds, targets_val, n_samples=a.fusion_samples, seed=cfg.train.seed)
        model.fusion_weights = torch.from_numpy(found.weights)
    elif a.fusion == "random_forest":
        model.rf_preds, model.rf_targets = torch.from_numpy(preds), torch.from_numpy(targets_val)
        model._forest_from_buffers()
    fused = ccc_scores(model.fuse(dynamic_val, kelm_val), targets_val)
    scores["fused"] = fused["mean_ccc"]
    path = save_system(model, cfg, index.class_names, out / "model.pt")
    summary = {
        "model": str(path),
        "system": "abaw24",
        "monitor": "val/mean_ccc",
        "val_mean_ccc": scores,
        "val_fused": fused,
        "best_val_score": scores["fused"],
        "kelm_C": chosen_C,
        "fusion_weights": model.fusion_weights.tolist() if a.fusion == "dirichlet" else None,
        "sizes": {"train": len(train), "val": len(val)},
    }
    atomic_write_text(out / "fit.json", json.dumps(summary, indent=2))
    _write_card(cfg, path, summary, title)
    log.info("abaw24 validation mean CCC: %s", ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return summary


def _fit_kelm(model: ABAW24, emb: dict, a) -> tuple[float, float]:
    """Fit one KELM per C of ``kelm_C`` on the training windows, keep the best on validation."""
    rate = model.window_rate()
    x_train, owners = functional_windows(emb["train"][0], rate, a)
    with warnings.catch_warnings():  # a window without any target gives NaN, left out below
        warnings.simplefilter("ignore", RuntimeWarning)
        t_train = np.array(
            [np.nanmean(emb["train"][1][i, s:e].double().numpy(), axis=0) for i, s, e in owners]
        )
    keep = np.isfinite(t_train).all(axis=1)  # windows with both dimensions labelled
    if not keep.any():
        raise ValueError("abaw24: no training window has both valence and arousal targets for the KELM")
    targets_val = emb["val"][1].double().numpy().reshape(-1, 2)
    best = (-math.inf, None, None)
    for C in a.kelm_C:
        machine = KELM(C, a.kelm_kernel).fit(x_train[keep], t_train[keep])
        model.kelm = machine
        score = ccc_scores(model.kelm_frames(emb["val"][0]).reshape(-1, 2), targets_val)["mean_ccc"]
        log.info("abaw24 KELM C=%g: val mean CCC %.4f", C, score)
        if score > best[0] or best[1] is None:
            best = (score, C, machine)
    score, C, machine = best
    model.kelm = machine
    model.kelm_x = torch.from_numpy(machine.x_train)
    model.kelm_beta = torch.from_numpy(machine.beta)
    model.kelm_gamma = torch.tensor(
        float("nan") if machine.gamma_ is None else machine.gamma_, dtype=torch.float64
    )
    model.kelm_C = torch.tensor(float(C), dtype=torch.float64)
    return float(score), float(C)


def _write_card(cfg: Config, path: Path, summary: dict, title: str) -> None:
    from vemd.card import write_model_card

    a, d = cfg.system.abaw24, cfg.data
    facts = {
        "system": "abaw24",
        "title": title,
        "outputs": "the scene's valence and arousal",
        "hears_audio": False,
        "model": {
            "static": f"{a.backbone} per frame, 2 outputs, loss {a.loss}",
            "dynamic": f"transformer ({a.dynamic_layers} layers, {a.dynamic_dim} wide) over {d.frames} frames {d.frame_interval:g} s apart",
            "kelm": f"{'/'.join(a.functionals)} over {a.functional_window_s:g}-s windows, {a.kelm_kernel} kernel, C={summary['kelm_C']:g}",
            "fusion": a.fusion,
            "smoothing": f"{a.smoothing_s:g}-s Hamming window at the video's frame rate",
        },
        "data": {
            "dataset": f"{d.name} at {d.root}",
            "train items": summary["sizes"]["train"],
            "validation items": summary["sizes"]["val"],
        },
        "validation": {f"{k} mean CCC": round(v, 4) for k, v in summary["val_mean_ccc"].items()},
    }
    write_model_card(path, facts)
