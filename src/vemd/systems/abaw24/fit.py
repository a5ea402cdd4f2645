"""Training of the ABAW 2024 system (``vemd fit`` of ``system.kind: abaw24``).

The static model, then the dynamic model over its frozen embeddings, the KELM over their
functionals (C chosen on the validation split) and the decision fusion fitted on the validation
split (:mod:`vemd.systems.abaw24`), each choice (best epoch, C, fusion weights) on the score
``vemd test`` gives the validation split (:class:`~vemd.systems.abaw24.evaluate.Selection`:
§4.3's protocol where the split has per-frame annotation files). The audio model
(:mod:`~vemd.systems.abaw24.audio_fit`) keeps its best epoch on the CCC of its voiced validation
windows, the paper's Table 2 measure; its frame predictions are then scored, and fused, by the
same selection as the others. Every split reads faces as
``system.abaw24.faces`` says (:mod:`~vemd.systems.abaw24.faces`; detected boxes kept in
``<out>/abaw24/faces/``). The static and dynamic models train with
:func:`vemd.train.epochs.train_epochs` into ``<out>/abaw24/<stage>/`` (resumable, exact after a
kill; a resume under other settings is refused by :mod:`vemd.train.resume`), on §4.4's schedule,
discriminative rates and gradual unfreezing where the config asks for them (:mod:`~vemd.systems.abaw24.schedule`).
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vemd.config import Config
from vemd.data.dataset import collate
from vemd.io import atomic_write_text
from vemd.models.regression import regression_loss
from vemd.systems.abaw24.audiovisual import ABAW24AudioVisual
from vemd.systems.abaw24.evaluate import Selection, batches, frame_targets, scaling_videos
from vemd.systems.abaw24.faces import FaceBoxes, split_dataset
from vemd.systems.abaw24.fusion import dirichlet_fusion_search
from vemd.systems.abaw24.kelm import KELM
from vemd.systems.abaw24.model import ABAW24, functional_windows
from vemd.systems.abaw24.schedule import (
    GradualUnfreezing,
    StepSchedule,
    backbone_layers,
    discriminative_groups,
    scheduler,
    steps_per_epoch,
)
from vemd.systems.common import save_system, start_run
from vemd.train.epochs import train_epochs
from vemd.train.resume import stage_setting

log = logging.getLogger(__name__)


def _loss(name: str):
    loss = regression_loss(name)

    def total(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # (N, 2) each
        return sum(loss(pred[:, d], target[:, d]) for d in range(2))

    return total


@torch.no_grad()
def outputs_of(what, dataset, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``what(frames)`` (N, T, D), the targets (N, T, 2) and the source frames read (N, T) of
    every item of a dataset, ``what`` a frozen part of the model in eval mode (the backbone's
    features, the embeddings)."""
    values, targets, indices = [], [], []
    for _, batch in batches(dataset, torch.arange(len(dataset)), batch_size):
        values.append(what(batch["frames"]))
        targets.append(frame_targets(batch))
        indices.append(batch["frame_indices"].numpy())
    return torch.cat(values), torch.cat(targets), np.concatenate(indices)


def _stage(stage: str, stage_id: int, module: nn.Module, params, *, cfg: Config, schedule, items: int, **kw):
    """:func:`train_epochs` of the ``static`` or ``dynamic`` stage, on §4.4's rates
    (:mod:`~vemd.systems.abaw24.schedule`) when the config asks for a warm-up, cycles or
    discriminative rates."""
    a = cfg.system.abaw24
    steps = steps_per_epoch(items, schedule.batch_size)
    scaled = any(isinstance(p, dict) and p.get("lr_scale", 1.0) != 1.0 for p in params)
    plan = (
        StepSchedule(lambda optimizer: scheduler(optimizer, a, steps), params, steps)
        if a.warmup_steps or a.cycle_epochs or scaled
        else None
    )
    also = kw.pop("on_epoch", None)

    def on_epoch(epoch: int) -> None:
        if plan is not None:
            plan.at_epoch(epoch)
        if also is not None:
            also(epoch)

    with plan.active() if plan is not None else nullcontext():
        return train_epochs(
            f"abaw24 {stage}",
            stage_id,
            module,
            params,
            schedule=schedule,
            seed=cfg.train.seed,
            setting=stage_setting(cfg, stage),
            on_epoch=on_epoch,
            train_rows=torch.arange(items),
            **kw,
        )


def fit_abaw24(cfg: Config, *, resume: bool = False, title: str = "") -> dict:
    """Static model, dynamic model, KELM, fusion; writes ``model.pt``, ``fit.json`` and the card."""
    a = cfg.system.abaw24
    out, folder = start_run(cfg, resume=resume)
    torch.manual_seed(cfg.train.seed)
    model = ABAW24AudioVisual(cfg) if a.audio.enabled else ABAW24(cfg)  # with Table 5's audio model
    boxes = FaceBoxes(folder / "faces")  # the detected faces, shared by the three datasets
    train, index = split_dataset(cfg, cfg.data.train_split, train=True, boxes=boxes)
    train_plain, _ = split_dataset(cfg, cfg.data.train_split, train=False, boxes=boxes)
    val, _ = split_dataset(cfg, cfg.data.val_split, train=False, boxes=boxes)
    loss, static_loss_fn = _loss(a.loss), _loss(a.static_loss)
    selection = Selection(val, a.smoothing_s)  # what every choice below is scored by
    log.info(
        "abaw24: %d training, %d validation items (%s); choices scored on %s",
        len(train),
        len(val),
        _seen(a.faces),
        "§4.3's protocol" if selection.protocol else "the sampled frames",
    )

    # static model: backbone, Fig. 2's embedding and head on single frames (a frozen VE-MD
    # backbone: the new layers alone, on its features computed once)
    new_layers = nn.ModuleDict({"embedding": model.embedding, "head": model.static_head})
    static = nn.ModuleDict({"backbone": model.backbone, **new_layers})
    features = None
    if model.frozen_backbone:
        model.eval()
        features = {
            "train": outputs_of(model.features, train_plain, a.static.batch_size),
            "val": outputs_of(model.features, val, a.static.batch_size),
        }

    def from_features(split: str, rows) -> tuple[torch.Tensor, torch.Tensor]:
        pred = model.static_from_embeddings(model.embedding(features[split][0][rows]))
        return pred.reshape(-1, 2), features[split][1][rows].reshape(-1, 2)

    def static_loss(rows):
        if features is not None:
            return static_loss_fn(*from_features("train", rows))
        batch = collate([train[int(i)] for i in rows])
        return static_loss_fn(
            model.static(batch["frames"]).reshape(-1, 2), frame_targets(batch).reshape(-1, 2)
        )

    def static_score():
        if features is not None:
            pred, target = from_features("val", torch.arange(len(val)))
            return selection.score(pred.numpy(), target.numpy(), features["val"][2])["mean_ccc"]
        preds, targets, indices = [], [], []
        for _, batch in batches(val, torch.arange(len(val)), a.static.batch_size):
            preds.append(model.static(batch["frames"]).numpy())
            targets.append(frame_targets(batch).numpy())
            indices.append(batch["frame_indices"].numpy())
        scored = selection.score(np.concatenate(preds), np.concatenate(targets), np.concatenate(indices))
        return scored["mean_ccc"]

    trained = [p for p in new_layers.parameters() if p.requires_grad]
    if model.frozen_backbone:
        params, unfreeze = trained, GradualUnfreezing([], 0)
    else:
        params = (
            discriminative_groups(
                model.backbone, trained, layer_decay=a.layer_decay, weight_decay=a.static.weight_decay
            )
            if a.layer_decay < 1
            else list(static.parameters())
        )
        unfreeze = GradualUnfreezing(
            backbone_layers(model.backbone) if a.unfreeze_per_epoch else [], a.unfreeze_per_epoch
        )

    def static_epoch(epoch: int) -> None:
        unfreeze(epoch)
        train.set_epoch(epoch)

    scores = {}
    scores["static"] = _stage(
        "static",
        1,
        static,
        params,
        cfg=cfg,
        schedule=a.static,
        items=len(train),
        loss_of=static_loss,
        score_of=static_score,
        folder=folder / "static",
        resume=resume,
        on_epoch=static_epoch,
    )
    for p in static.parameters():
        p.requires_grad_(False)

    # frozen embeddings → dynamic model, its input scaled by the training embeddings' range
    model.eval()
    if features is not None:
        with torch.no_grad():
            emb = {split: (model.embedding(x), t, i) for split, (x, t, i) in features.items()}
    else:
        emb = {
            "train": outputs_of(model.embed, train_plain, a.dynamic.batch_size),
            "val": outputs_of(model.embed, val, a.dynamic.batch_size),
        }
    model.dynamic.fit_scaling(emb["train"][0])
    # §4.2.2's per-video scaling: each item's video range (None for the other scalings)
    ranges = {
        "train": model.video_range(emb["train"][0], scaling_videos(train_plain)),
        "val": model.video_range(emb["val"][0], scaling_videos(val)),
    }

    def dynamic_of(split: str, rows=None) -> torch.Tensor:
        x, video_range = emb[split][0], ranges[split]
        if rows is None:
            return model.dynamic(x, video_range)
        return model.dynamic(
            x[rows], None if video_range is None else (video_range[0][rows], video_range[1][rows])
        )

    def dynamic_loss(rows):
        return loss(dynamic_of("train", rows).reshape(-1, 2), emb["train"][1][rows].reshape(-1, 2))

    def dynamic_score():
        return selection.score(dynamic_of("val").numpy(), emb["val"][1].numpy(), emb["val"][2])["mean_ccc"]

    scores["dynamic"] = _stage(
        "dynamic",
        2,
        model.dynamic,
        list(model.dynamic.parameters()),
        cfg=cfg,
        schedule=a.dynamic,
        items=len(train),
        loss_of=dynamic_loss,
        score_of=dynamic_score,
        folder=folder / "dynamic",
        resume=resume,
    )

    # functionals + KELM, C chosen on the validation split
    scores["kelm"], chosen_C = _fit_kelm(model, emb, a, selection)

    # decision fusion on the validation split
    with torch.no_grad():
        dynamic_val = dynamic_of("val").double().numpy().reshape(-1, 2)
    kelm_val = model.kelm_frames(emb["val"][0]).reshape(-1, 2)
    targets_val = emb["val"][1].double().numpy().reshape(-1, 2)
    members, audio_facts = {"dynamic": dynamic_val, "kelm": kelm_val}, None
    if a.audio.enabled:  # the audio model (§3.1), its validation windows spread over the frames
        from vemd.systems.abaw24.audio_fit import fit_audio

        window_ccc, audio_val, counts = fit_audio(
            model, cfg, train_plain, val, folder=folder / "audio", resume=resume
        )
        members["audio"] = audio_val.reshape(-1, 2)
        scores["audio"] = selection.score(members["audio"], targets_val, emb["val"][2])["mean_ccc"]
        audio_facts = {"window_mean_ccc": window_ccc, "windows": counts}
    preds = np.stack([members[m] for m in a.fusion_members])
    if a.fusion == "dirichlet":  # a weighted sum: weighing the frames the selection scores is exact
        frames = [selection.every_frame(p, targets_val, emb["val"][2]) for p in preds]
        found = dirichlet_fusion_search(
            np.stack([p for p, _ in frames]), frames[0][1], n_samples=a.fusion_samples, seed=cfg.train.seed
        )
        model.fusion_weights = torch.from_numpy(found.weights)
    elif a.fusion == "random_forest":
        model.rf_preds, model.rf_targets = torch.from_numpy(preds), torch.from_numpy(targets_val)
        model._forest_from_buffers()
    fused = selection.score(np.clip(model.fuse(*members.values()), -1, 1), targets_val, emb["val"][2])
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
        "selection": {
            **selection.facts(targets_val, emb["val"][2]),
            "fusion": _fusion_scored_on(a.fusion, selection),
        },
    }
    if audio_facts is not None:
        summary["audio"] = audio_facts
        summary["selection"]["audio_epoch"] = "voiced_windows"  # Table 2's window-level CCC
    atomic_write_text(out / "fit.json", json.dumps(summary, indent=2))
    _write_card(cfg, path, summary, title)
    log.info("abaw24 validation mean CCC: %s", ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return summary


def _fusion_scored_on(fusion: str, selection: Selection) -> str | None:
    """What the fusion is fitted on: the selection's frames, but a random forest's sampled frames
    (it fuses window predictions before they are interpolated, and is not a weighted sum)."""
    if fusion == "none":
        return None
    return "protocol" if selection.protocol and fusion == "dirichlet" else "sampled_frames"


def _seen(faces: str) -> str:
    """What the static model sees, in words (the log and the card)."""
    return {
        "detect": "detected faces",
        "cropped_aligned": "AffWild2's cropped_aligned faces",
        "none": "whole frames",
    }[faces]


def _fit_kelm(model: ABAW24, emb: dict, a, selection: Selection) -> tuple[float, float]:
    """Fit one KELM per C of ``kelm_C`` on the training windows, keep the best on validation
    (scored by ``selection``)."""
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
    targets_val = emb["val"][1].double().numpy()
    best = (-math.inf, None, None)
    for C in a.kelm_C:
        machine = KELM(C, a.kelm_kernel).fit(x_train[keep], t_train[keep])
        model.kelm = machine
        score = selection.score(model.kelm_frames(emb["val"][0]), targets_val, emb["val"][2])["mean_ccc"]
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
        "hears_audio": a.audio.enabled,
        "model": {
            "static": (
                f"{a.backbone} per frame ({_seen(a.faces)}), "
                f"{a.embed_dim or 'the backbone'}'s features, 2 outputs, loss {a.static_loss}"
            ),
            "dynamic": (
                f"transformer ({a.dynamic_layers} layers, {a.dynamic_dim} wide, {a.dynamic_heads} heads, "
                f"{a.dynamic_scaling} scaling, {a.dynamic_position} positions) over {d.frames} frames "
                f"{d.frame_interval:g} s apart, loss {a.loss}"
            ),
            "kelm": f"{'/'.join(a.functionals)} over {a.functional_window_s:g}-s windows, {a.kelm_kernel} kernel, C={summary['kelm_C']:g}",
            "fusion": f"{a.fusion} over {', '.join(a.fusion_members)}",
            "smoothing": f"{a.smoothing_s:g}-s Hamming window at the video's frame rate",
        },
        "data": {
            "dataset": f"{d.name} at {d.root}",
            "train items": summary["sizes"]["train"],
            "validation items": summary["sizes"]["val"],
        },
        "validation": {
            "scored on": "§4.3's protocol"
            if summary["selection"]["score"] == "protocol"
            else "the sampled frames",
            **{f"{k} mean CCC": round(v, 4) for k, v in summary["val_mean_ccc"].items()},
        },
    }
    if a.audio.enabled:
        au = a.audio
        facts["model"]["audio"] = (
            f"{au.encoder}, top {au.finetune_layers if au.finetune_layers is not None else 'default'} layers "
            f"fine-tuned, head {au.head}, {au.window_s:g}-s windows every {au.step_s:g} s, voice activity "
            f"{au.voice_activity}, window mean CCC {summary['audio']['window_mean_ccc']:.4f}"
        )
    write_model_card(path, facts)
