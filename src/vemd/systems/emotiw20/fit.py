"""Training of the EmotiW 2020 system (``vemd fit`` of ``system.kind: emotiw20``).

Both branches on the whole training split, then on each of ``folds`` stratified folds for the
out-of-fold scores the SVM is fitted on (:mod:`vemd.systems.emotiw20`); every branch trains with
:func:`vemd.train.epochs.train_epochs` into ``<out>/emotiw20/<stage>/`` (resumable, exact after a
kill; a resume under other settings is refused by :mod:`vemd.train.resume`).

The SVM's C, kernel and degree are chosen by grid search over those out-of-fold scores
(``svm_search``, §III-D), then its validation accuracy is measured; ``svm_refit_train_val`` then
refits it, with the same setting, on the out-of-fold scores and the validation clips' scores by
the branches of the whole training split (§III-D's "full train" set). ``fit.json`` and the model
card record the setting, how it was chosen and what the SVM was fitted on; the validation
accuracies are those measured before any refit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vemd.config import Config
from vemd.data.multimodal import audio_path, read_waveforms
from vemd.io import atomic_write_text
from vemd.systems.common import frames_of, save_system, split_data, start_run
from vemd.systems.emotiw20.model import EmotiW20
from vemd.systems.emotiw20.svm_fusion import SVMChoice
from vemd.train.epochs import train_epochs
from vemd.train.resume import stage_setting

log = logging.getLogger(__name__)

STAGE_IDS = {"video": 1, "audio": 2}  # folds: 10 + k (video), 30 + k (audio)


class _Splits:
    """The clips of the training and validation splits: frames (lazily) and audio features."""

    def __init__(self, cfg: Config, model: EmotiW20) -> None:
        self.train, index = split_data(cfg, cfg.data.train_split, train=True)
        self.train_plain, _ = split_data(cfg, cfg.data.train_split, train=False)  # no augmentation
        self.val, _ = split_data(cfg, cfg.data.val_split, train=False)
        self.class_names = index.class_names
        self.labels = {
            s: torch.tensor([self.train.class_names.index(r.label) for r in d.records])
            for s, d in (("train", self.train), ("val", self.val))
        }
        e = cfg.system.emotiw20
        self.audio, self.mask, self.counts = {}, {}, {}
        for name, dataset in (("train", self.train), ("val", self.val)):
            paths = [audio_path(r, dataset.root) for r in dataset.records]
            waves, present, counts = read_waveforms(
                paths, e.audio_seconds, workers=cfg.train.num_workers, skip_bad=cfg.data.skip_bad
            )
            self.audio[name], self.mask[name] = model.audio_features(waves.float())
            self.counts[name] = {"clips": len(paths), "without audio": int((~present).sum()), **counts}
        valid = self.audio["train"][self.mask["train"]]
        model.feature_mean.copy_(valid.mean(0))
        model.feature_std.copy_(valid.std(0).clamp_min(1e-6))
        log.info(
            "emotiw20: %d training, %d validation clips; %d and %d without audio",
            len(self.train),
            len(self.val),
            self.counts["train"]["without audio"],
            self.counts["val"]["without audio"],
        )


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean())


def _video_logits(video: nn.Module, dataset, rows: torch.Tensor) -> torch.Tensor:
    return video(frames_of(dataset, rows))


def _train_video(
    video, data: _Splits, rows, cfg: Config, folder: Path, stage: str, stage_id: int, resume: bool
) -> float:
    e = cfg.system.emotiw20
    val_rows = torch.arange(len(data.val))

    def loss_of(batch):
        return nn.functional.cross_entropy(
            _video_logits(video, data.train, rows[batch]), data.labels["train"][rows[batch]]
        )

    def score_of():
        logits = torch.cat([_video_logits(video, data.val, b) for b in val_rows.split(e.video.batch_size)])
        return _accuracy(logits, data.labels["val"])

    params = [p for p in video.parameters() if p.requires_grad]
    return train_epochs(
        f"emotiw20 {stage}",
        stage_id,
        video,
        params,
        loss_of=loss_of,
        score_of=score_of,
        train_rows=torch.arange(len(rows)),
        schedule=e.video,
        seed=cfg.train.seed,
        folder=folder / stage,
        setting=stage_setting(cfg, stage),
        resume=resume,
        on_epoch=data.train.set_epoch,
    )


def _train_audio(
    model: EmotiW20,
    audio,
    data: _Splits,
    rows,
    cfg: Config,
    folder: Path,
    stage: str,
    stage_id: int,
    resume: bool,
) -> float:
    e = cfg.system.emotiw20
    feats = {s: model.normalised(data.audio[s]) for s in ("train", "val")}

    def loss_of(batch):
        r = rows[batch]
        return nn.functional.cross_entropy(
            audio(feats["train"][r], data.mask["train"][r]), data.labels["train"][r]
        )

    def score_of():
        logits = torch.cat(
            [
                audio(feats["val"][b], data.mask["val"][b])
                for b in torch.arange(len(data.val)).split(e.audio.batch_size)
            ]
        )
        return _accuracy(logits, data.labels["val"])

    return train_epochs(
        f"emotiw20 {stage}",
        stage_id,
        audio,
        list(audio.parameters()),
        loss_of=loss_of,
        score_of=score_of,
        train_rows=torch.arange(len(rows)),
        schedule=e.audio,
        seed=cfg.train.seed,
        folder=folder / stage,
        setting=stage_setting(cfg, stage),
        resume=resume,
    )


@torch.no_grad()
def _probs(
    model: EmotiW20, video, audio, data: _Splits, split: str, rows: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    dataset = data.train_plain if split == "train" else data.val
    e = cfg_of(model).system.emotiw20
    v = torch.cat([_video_logits(video, dataset, b) for b in rows.split(e.video.batch_size)]).softmax(-1)
    feats = model.normalised(data.audio[split][rows])
    a = torch.cat(
        [
            audio(f, m)
            for f, m in zip(feats.split(e.audio.batch_size), data.mask[split][rows].split(e.audio.batch_size))
        ]
    ).softmax(-1)
    return v.double().numpy(), a.double().numpy()


def cfg_of(model: EmotiW20) -> Config:
    return model.cfg


def fit_emotiw20(cfg: Config, *, resume: bool = False, title: str = "") -> dict:
    """Train both branches, their out-of-fold scores and the SVM; write ``model.pt``."""
    from sklearn.model_selection import StratifiedKFold

    e = cfg.system.emotiw20
    out, folder = start_run(cfg, resume=resume)
    torch.manual_seed(cfg.train.seed)
    model = EmotiW20(cfg)
    data = _Splits(cfg, model)
    every = torch.arange(len(data.train))
    scores = {"video": _train_video(model.video, data, every, cfg, folder, "video", 1, resume)}
    scores["audio"] = _train_audio(model, model.audio, data, every, cfg, folder, "audio", 2, resume)
    # out-of-fold scores of the training split (module docstring)
    labels = data.labels["train"].numpy()
    oof = np.full((len(labels), 2 * model.num_classes), np.nan)
    splitter = StratifiedKFold(n_splits=e.folds, shuffle=True, random_state=cfg.train.seed)
    for k, (rest, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        torch.manual_seed(cfg.train.seed * 7919 + k)
        video, audio = model.new_video(), model.new_audio()
        rest, held = torch.from_numpy(rest), torch.from_numpy(held)
        _train_video(video, data, rest, cfg, folder, f"fold{k}-video", 10 + k, resume)
        _train_audio(model, audio, data, rest, cfg, folder, f"fold{k}-audio", 30 + k, resume)
        v, a = _probs(model, video, audio, data, "train", held)
        oof[held.numpy()] = np.concatenate([v, a], axis=1)
    v, a = _probs(model, model.video, model.audio, data, "val", torch.arange(len(data.val)))
    scores["fused"] = fit_fusion(
        model, oof, labels, np.concatenate([v, a], axis=1), data.labels["val"].numpy()
    )
    path = save_system(model, cfg, data.class_names, out / "model.pt")
    summary = {
        "model": str(path),
        "system": "emotiw20",
        "monitor": "val/accuracy",
        "val_accuracy": scores,
        "best_val_score": scores["fused"],
        "sizes": {"train": len(data.train), "val": len(data.val)},
        "counts": data.counts,
        "video_time_padding": model.time_padding,
        "svm": {**asdict(model.svm_choice), "fitted_on": _svm_fitted_on(e)},
    }
    atomic_write_text(out / "fit.json", json.dumps(summary, indent=2))
    _write_card(cfg, path, data, summary, title)
    log.info(
        "emotiw20 validation accuracy: video %.4f, audio %.4f, SVM-fused %.4f (%s)",
        scores["video"],
        scores["audio"],
        scores["fused"],
        _svm_line(summary["svm"]),
    )
    return summary


def fit_fusion(
    model: EmotiW20, train_scores: np.ndarray, train_labels: np.ndarray, val_scores: np.ndarray, val_labels
) -> float:
    """Fit the SVM on the out-of-fold ``train_scores`` (N, 2C) — video then audio probabilities —
    and ``train_labels`` (N,), its setting chosen by grid search when ``svm_search``; return its
    accuracy on the validation clips' ``val_scores`` (M, 2C) and ``val_labels`` (M,), then, with
    ``svm_refit_train_val``, refit it with the same setting on both (§III-D's "full train" set)."""
    e, c = model.cfg.system.emotiw20, model.num_classes
    model.svm_scores = torch.from_numpy(np.asarray(train_scores, np.float64))
    model.svm_labels = torch.from_numpy(np.asarray(train_labels)).long()
    model.fit_svm(search=e.svm_search)
    val_labels = np.asarray(val_labels)
    accuracy = float((model.fused_labels(val_scores[:, :c], val_scores[:, c:]) == val_labels).mean())
    if e.svm_refit_train_val:
        model.svm_scores = torch.cat([model.svm_scores, torch.from_numpy(np.asarray(val_scores, np.float64))])
        model.svm_labels = torch.cat([model.svm_labels, torch.from_numpy(val_labels).long()])
        model.fit_svm()
    return accuracy


def _svm_fitted_on(e) -> str:
    scores = f"{e.folds}-fold out-of-fold probabilities of the training split"
    if e.svm_refit_train_val:
        return f"{scores}, refitted with the validation split's after scoring it"
    return scores


def _svm_line(svm: dict) -> str:
    """The model card's fusion line: the SVM's setting, how it was chosen, what it was fitted on."""
    choice = SVMChoice(**{k: v for k, v in svm.items() if k != "fitted_on"})
    how = "as set"
    if choice.cv_accuracy is not None:
        how = f"grid search of {choice.candidates} settings, CV accuracy {choice.cv_accuracy:.4f}"
    return f"SVM ({choice.describe()}; {how}) on {svm['fitted_on']}"


def _write_card(cfg: Config, path: Path, data: _Splits, summary: dict, title: str) -> None:
    from vemd.card import write_model_card

    e, d = cfg.system.emotiw20, cfg.data
    facts = {
        "system": "emotiw20",
        "title": title,
        "outputs": "a group label, class probabilities",
        "hears_audio": True,
        "model": {
            "video": f"{e.backbone} inflated to 3D ({'whole network' if e.train_backbone else 'last layer'} trained; time padding {summary['video_time_padding']})",
            "audio": f"34 window features ({e.audio_window_s * 1000:g} ms every {e.audio_hop_s * 1000:g} ms) → Bi-LSTM ({e.audio_hidden} per direction) with local attention",
            "fusion": _svm_line(summary["svm"]),
            "frames": f"{d.frames} ({d.sampling}, interval {d.frame_interval:g} s), {cfg.model.image_size} px",
            "classes": ", ".join(data.class_names),
        },
        "data": {
            "dataset": f"{d.name} at {d.root}",
            "train clips": len(data.train),
            "validation clips": len(data.val),
        },
        "validation": {f"{k} accuracy": round(v, 4) for k, v in summary["val_accuracy"].items()},
    }
    write_model_card(path, facts)
