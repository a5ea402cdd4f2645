"""The EmotiW 2020 audio-video group emotion system, as a vemd system (``system.kind: emotiw20``).

Two branches and a score-level fusion (the EmotiW 2020 AV-GER paper, §II):

* **video** (§II-B): a timm ResNet inflated to 3D (:mod:`vemd.models.inflated`: each k×k kernel
  repeated over t and divided by t, or a user-supplied activity-recognition 3D checkpoint) over
  the clip's frames — ten frames of a 5-s clip, 2 per second, in the paper's recipe — with a new
  ``num_classes``-way layer. §II-D trains only that layer over the pretrained 3D network
  (``train_backbone: false``); without pretrained weights (offline, built-in data) the whole
  network is trained (``train_backbone: true``).
* **audio** (§II-C): the 34 short-term features of each 25-ms window every 10 ms
  (:mod:`vemd.systems.emotiw20.window_features`, librosa), standardised with the training split's
  mean and standard deviation, through a Bi-LSTM with local attention
  (:mod:`vemd.systems.emotiw20.bilstm`). A clip without audio is heard as silence.
* **fusion** (§II-D): a multi-class SVM (scikit-learn) on the six concatenated class
  probabilities. It is fitted on *out-of-fold* probabilities of the training split: the split
  is cut into ``folds`` stratified folds, and each fold is scored by branches trained on the
  other folds (:func:`vemd.systems.emotiw20.svm_fusion.out_of_fold_probabilities`), so the SVM never learns
  from the over-confident scores of clips a branch was trained on. At test time it reads the
  probabilities of the branches trained on the whole training split.

Every branch (whole split and each fold) trains with :func:`vemd.train.epochs.train_epochs`
(Adam + cross-entropy, best validation accuracy kept, early stopping; resumable and exact after
a kill) into ``<out>/emotiw20/<stage>/``. The model file keeps the out-of-fold scores and labels
the SVM was fitted on and refits it on loading (deterministic), so no estimator is pickled.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vemd.config import Config, to_yaml
from vemd.data.multimodal import audio_path, read_waveforms
from vemd.systems.emotiw20.svm_fusion import SVMFusion
from vemd.systems.emotiw20.bilstm import BiLSTMAttention
from vemd.systems.emotiw20.window_features import FEATURE_NAMES, window_features
from vemd.models.inflated import RESNET3D50_TIME_KERNEL, InflatedResNetClassifier
from vemd.io import atomic_write_text
from vemd.systems.common import frames_of, save_system, split_data, stage_setting
from vemd.train.epochs import EpochSettings, train_epochs

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
STAGE_IDS = {"video": 1, "audio": 2}  # folds: 10 + k (video), 30 + k (audio)


class EmotiW20(nn.Module):
    """Video and audio branches and the SVM over their probabilities (module docstring)."""

    sized_by_training = ("svm_scores", "svm_labels")

    def __init__(self, cfg: Config, *, for_loading: bool = False) -> None:
        super().__init__()
        e = cfg.system.emotiw20
        self.cfg = cfg
        self.num_classes = cfg.model.num_classes
        self.image_size = cfg.model.image_size
        self.audio_seconds = e.audio_seconds
        self.video = self.new_video() if not for_loading else self._video(pretrained=False, weights=None)
        self.audio = self.new_audio()
        width = len(FEATURE_NAMES)
        self.register_buffer("feature_mean", torch.zeros(width))
        self.register_buffer("feature_std", torch.ones(width))
        self.register_buffer("svm_scores", torch.zeros(0, 2 * self.num_classes, dtype=torch.float64))
        self.register_buffer("svm_labels", torch.zeros(0, dtype=torch.long))
        self.svm: SVMFusion | None = None

    # ---- parts ------------------------------------------------------------------------------

    def _video(self, *, pretrained: bool, weights: str | None) -> InflatedResNetClassifier:
        e = self.cfg.system.emotiw20
        model = InflatedResNetClassifier(
            e.backbone,
            num_classes=self.num_classes,
            pretrained=pretrained,
            weights=weights,
            time_kernel=RESNET3D50_TIME_KERNEL if e.time_kernel is None else e.time_kernel,
            downsample_time=e.downsample_time,
            dropout=e.video_dropout,
        )
        if not e.train_backbone:
            for name, p in model.backbone.named_parameters():
                p.requires_grad_(name.startswith("fc."))
        return model

    def new_video(self) -> InflatedResNetClassifier:
        e = self.cfg.system.emotiw20
        return self._video(pretrained=e.pretrained, weights=e.weights)

    def new_audio(self) -> BiLSTMAttention:
        e = self.cfg.system.emotiw20
        return BiLSTMAttention(
            len(FEATURE_NAMES),
            hidden=e.audio_hidden,
            num_classes=self.num_classes,
            dropout=e.audio_dropout,
            attention_window=e.attention_window,
            frontend=tuple(e.audio_frontend),
        )

    def after_loading(self) -> None:
        self.fit_svm()

    # ---- audio features ---------------------------------------------------------------------

    def audio_features(self, waveforms: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) 16-kHz waveforms → raw window features (B, S, 34) and their mask (B, S)."""
        e = self.cfg.system.emotiw20
        rows = [
            window_features(
                np.asarray(w, dtype=np.float32), SAMPLE_RATE, window_s=e.audio_window_s, hop_s=e.audio_hop_s
            )
            for w in np.asarray(waveforms)
        ]
        steps = max([1] + [len(r) for r in rows])
        features = torch.zeros(len(rows), steps, len(FEATURE_NAMES))
        mask = torch.zeros(len(rows), steps, dtype=torch.bool)
        for i, r in enumerate(rows):
            features[i, : len(r)] = torch.from_numpy(np.nan_to_num(r))  # §III-C: non-numbers read as 0
            mask[i, : len(r)] = True
        mask[:, 0] = True  # a clip shorter than one window gets one window of zeros
        return features, mask

    def normalised(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.feature_mean) / self.feature_std

    # ---- predictions ------------------------------------------------------------------------

    def fit_svm(self) -> None:
        """Fit the SVM on the stored out-of-fold scores (also on loading: nothing is pickled)."""
        e = self.cfg.system.emotiw20
        if not len(self.svm_labels):
            self.svm = None
            return
        scores = self.svm_scores.double().numpy()
        c = self.num_classes
        folds = int(min(5, np.bincount(self.svm_labels.numpy()).min()))
        self.svm = SVMFusion(
            C=e.svm_C,
            kernel=e.svm_kernel,
            degree=e.svm_degree,
            calibration_folds=max(2, folds),
            seed=self.cfg.train.seed,
        ).fit([scores[:, :c], scores[:, c:]], self.svm_labels.numpy())

    def fused_probs(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """Branch probabilities (N, C) each → the SVM's probabilities (N, C) in class order."""
        probs = self.svm.predict_proba([video, audio])
        out = np.zeros((len(video), self.num_classes))
        out[:, self.svm.classes_] = probs
        return out

    def fused_labels(self, video: np.ndarray, audio: np.ndarray) -> np.ndarray:
        return self.svm.predict([video, audio])

    @torch.no_grad()
    def branch_probs(self, frames: torch.Tensor, waveforms) -> tuple[np.ndarray, np.ndarray]:
        video = self.video(frames.to(self.feature_mean.device)).float().softmax(-1).cpu().numpy()
        features, mask = self.audio_features(waveforms)
        device = self.feature_mean.device
        audio = (
            self.audio(self.normalised(features.to(device)), mask.to(device))
            .float()
            .softmax(-1)
            .cpu()
            .numpy()
        )
        return video, audio

    def predict_clips(self, frames: torch.Tensor, waveforms, present) -> dict:
        """uint8 frames (B, T, 3, S, S) and (B, L) waveforms (zeros where ``present`` is False)
        → {"probs": fused (B, C)}: the group-level output of :func:`vemd.load`."""
        video, audio = self.branch_probs(frames, waveforms)
        return {"probs": self.fused_probs(video, audio)}


# ------------------------------------------------------------------------------------ training


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
        settings=EpochSettings.of(e.video, cfg.train.seed),
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
        settings=EpochSettings.of(e.audio, cfg.train.seed),
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


def fit_emotiw20(cfg: Config, *, resume: bool = False) -> dict:
    """Train both branches, their out-of-fold scores and the SVM; write ``model.pt``."""
    from sklearn.model_selection import StratifiedKFold

    e = cfg.system.emotiw20
    out = Path(cfg.train.out_dir)
    folder = out / "emotiw20"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", to_yaml(cfg))
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
    model.svm_scores = torch.from_numpy(oof)
    model.svm_labels = torch.from_numpy(labels).long()
    model.fit_svm()
    v, a = _probs(model, model.video, model.audio, data, "val", torch.arange(len(data.val)))
    scores["fused"] = float((model.fused_labels(v, a) == data.labels["val"].numpy()).mean())
    path = save_system(model, cfg, data.class_names, out / "model.pt")
    summary = {
        "model": str(path),
        "system": "emotiw20",
        "monitor": "val/accuracy",
        "val_accuracy": scores,
        "best_val_score": scores["fused"],
        "sizes": {"train": len(data.train), "val": len(data.val)},
        "counts": data.counts,
    }
    atomic_write_text(out / "fit.json", json.dumps(summary, indent=2))
    _write_card(cfg, path, data, summary)
    log.info(
        "emotiw20 validation accuracy: video %.4f, audio %.4f, SVM-fused %.4f",
        scores["video"],
        scores["audio"],
        scores["fused"],
    )
    return summary


def _write_card(cfg: Config, path: Path, data: _Splits, summary: dict) -> None:
    from vemd.systems.card import write_system_card

    e, d = cfg.system.emotiw20, cfg.data
    facts = {
        "system": "emotiw20",
        "model": {
            "video": f"{e.backbone} inflated to 3D ({'whole network' if e.train_backbone else 'last layer'} trained)",
            "audio": f"34 window features ({e.audio_window_s * 1000:g} ms every {e.audio_hop_s * 1000:g} ms) → Bi-LSTM ({e.audio_hidden} per direction) with local attention",
            "fusion": f"SVM ({e.svm_kernel}, C={e.svm_C:g}) on {e.folds}-fold out-of-fold probabilities",
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
    write_system_card(path, facts)


# ---------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_emotiw20(
    checkpoint: str | Path,
    *,
    split: str | None = None,
    out_dir: str | Path | None = None,
    data_cfg: Config | None = None,
    device: str | torch.device = "cpu",
    group_sizes=None,
) -> dict:
    """Video alone, audio alone and SVM-fused on ``split`` (accuracy with Wilson CI, F1, UAR,
    McNemar fused vs each branch); reports in ``out_dir`` with the group-size table."""
    from vemd.eval.compare import mcnemar
    from vemd.eval.group_size import DEFAULT_EDGES, group_size_report
    from vemd.eval.metrics import classification_metrics
    from vemd.eval.plots import plot_confusion
    from vemd.eval.report import write_metrics_json, write_predictions_csv
    from vemd.systems import open_for_test
    from vemd.systems.card import add_system_evaluation

    model, cfg, class_names, split, out, dataset = open_for_test(checkpoint, split, out_dir, data_cfg, device)
    e = cfg.system.emotiw20
    paths = [audio_path(r, dataset.root) for r in dataset.records]
    waves, present, _ = read_waveforms(
        paths, e.audio_seconds, workers=cfg.train.num_workers, skip_bad=cfg.data.skip_bad
    )
    video, audio = [], []
    for rows in torch.arange(len(dataset)).split(e.video.batch_size):
        v, a = model.branch_probs(frames_of(dataset, rows), waves[rows].float().numpy())
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
    group = group_size_report(
        dataset, cfg.data, ids, correct, group_sizes or DEFAULT_EDGES, len(class_names), out
    )
    extra = {
        "split": split,
        "checkpoint": str(checkpoint),
        "system": "emotiw20",
        "mcnemar": tests,
        "without_audio": int((~present).sum()),
    }
    if group is not None:
        extra["group_size"] = group
    write_metrics_json(out / "metrics.json", {"modalities": metrics}, extra)
    plot_confusion(np.asarray(metrics["fused"]["confusion"]), class_names, out / "confusion.png")
    atomic_write_text(out / "modalities.md", _table(metrics, tests, split))
    short = {
        n: {"accuracy": m["accuracy"], "accuracy_ci95": m["accuracy_ci95"], "uar": m["uar"]}
        for n, m in metrics.items()
    }
    add_system_evaluation(
        checkpoint, split, {f"{n} accuracy": round(m["accuracy"], 4) for n, m in metrics.items()}, out
    )
    return {"split": split, "modalities": short, "mcnemar": tests, "report": str(out)}


def _table(metrics: dict, tests: dict, split: str) -> str:
    lines = [
        f"# EmotiW 2020 system on split {split!r}",
        "",
        "| branch | accuracy | 95 % CI | UAR | F1 (weighted) | McNemar p (fused vs) |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lo, hi = m["accuracy_ci95"]
        p = tests.get(f"fused_vs_{name}", {}).get("p_value")
        lines.append(
            f"| {name} | {m['accuracy'] * 100:.1f} % | {lo * 100:.1f}–{hi * 100:.1f} | {m['uar'] * 100:.1f} % | "
            f"{m['f1_weighted'] * 100:.1f} % | {'' if p is None else f'{p:.2g}'} |"
        )
    return "\n".join(lines) + "\n"
