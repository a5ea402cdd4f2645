"""The EmotiW 2020 system's model: video and audio branches and the SVM over their probabilities.

What inference needs (:class:`EmotiW20`); training is :mod:`vemd.systems.emotiw20.fit`, the
evaluation :mod:`vemd.systems.emotiw20.evaluate`, the system's description its package
docstring (:mod:`vemd.systems.emotiw20`).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from torch import nn

from vemd.config import SVM_KERNELS, Config, ConfigError
from vemd.models.inflated import (
    RESNET3D50_TIME_KERNEL,
    TIME_PADDINGS,
    InflatedResNetClassifier,
    weights_time_padding,
)
from vemd.systems.emotiw20.bilstm import BiLSTMAttention
from vemd.systems.emotiw20.svm_fusion import SVMChoice, SVMFusion, search_svm, svm_grid
from vemd.systems.emotiw20.window_features import FEATURE_NAMES, window_features

SAMPLE_RATE = 16_000
GROUP_SIZES = ("paper", "buckets")  # system.emotiw20.group_sizes


def settings_problems(cfg: Config) -> list[str]:
    """What is wrong with the settings of ``system.emotiw20`` that the config's own checks leave."""
    e, key = cfg.system.emotiw20, "system.emotiw20"
    problems = []
    if e.time_padding is not None and e.time_padding not in TIME_PADDINGS:
        problems.append(f"{key}.time_padding={e.time_padding!r}: expected {', '.join(TIME_PADDINGS)} or null")
    if e.group_sizes not in GROUP_SIZES:
        problems.append(f"{key}.group_sizes={e.group_sizes!r}: expected one of {', '.join(GROUP_SIZES)}")
    if e.svm_search and not (e.svm_grid_C and e.svm_grid_kernel and e.svm_grid_degree):
        problems.append(f"{key}: svm_search needs svm_grid_C, svm_grid_kernel and svm_grid_degree")
    if any(c <= 0 for c in e.svm_grid_C):
        problems.append(f"{key}.svm_grid_C={list(e.svm_grid_C)}: expected numbers > 0")
    if any(k not in SVM_KERNELS for k in e.svm_grid_kernel):
        problems.append(
            f"{key}.svm_grid_kernel={list(e.svm_grid_kernel)}: expected names from {', '.join(SVM_KERNELS)}"
        )
    if any(d < 1 for d in [e.svm_degree, *e.svm_grid_degree]):
        problems.append(f"{key}: SVM degrees must be integers >= 1")
    return problems


class EmotiW20(nn.Module):
    """Video and audio branches and the SVM over their probabilities (module docstring).

    ``extra`` (loading): the facts its model file keeps (:meth:`extra_state_for_file`): the time
    padding its video branch ran with and the SVM's chosen setting; a file of an earlier vemd has
    neither, and ran with replication and the config's ``svm_C``, ``svm_kernel``, ``svm_degree``.
    """

    sized_by_training = ("svm_scores", "svm_labels")

    def __init__(self, cfg: Config, *, for_loading: bool = False, extra: dict | None = None) -> None:
        super().__init__()
        problems = settings_problems(cfg)
        if problems:
            raise ConfigError("; ".join(problems))
        e, extra = cfg.system.emotiw20, extra or {}
        self.cfg = cfg
        self.num_classes = cfg.model.num_classes
        self.image_size = cfg.model.image_size
        self.audio_seconds = e.audio_seconds
        if for_loading:
            self.time_padding = extra.get("time_padding", "replicate")
        else:
            self.time_padding = e.time_padding or weights_time_padding(e.weights)
        svm = extra.get("svm")
        self.svm_choice = SVMChoice(**svm) if isinstance(svm, dict) else None
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
            time_padding=self.time_padding,
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

    def extra_state_for_file(self) -> dict:
        """What the weights do not say: the video branch's time padding, the SVM's setting."""
        extra: dict = {"time_padding": self.time_padding}
        if self.svm_choice is not None:
            extra["svm"] = asdict(self.svm_choice)
        return extra

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

    def fit_svm(self, *, search: bool = False) -> None:
        """Fit the SVM on the stored scores (also on loading: nothing is pickled) with its setting:
        ``search`` chooses it first by grid search over the stored scores (§III-D; fit does, when
        ``svm_search``), else it is the one chosen before (the model file keeps it) or the
        config's ``svm_C``, ``svm_kernel``, ``svm_degree``."""
        e = self.cfg.system.emotiw20
        if not len(self.svm_labels):
            self.svm = None
            return
        scores = self.svm_scores.double().cpu().numpy()
        labels = self.svm_labels.cpu().numpy()
        branches = [scores[:, : self.num_classes], scores[:, self.num_classes :]]
        folds = max(2, int(min(5, np.bincount(labels).min())))
        seed = self.cfg.train.seed
        if search:
            grid = svm_grid(e.svm_grid_C, e.svm_grid_kernel, e.svm_grid_degree)
            self.svm_choice = search_svm(branches, labels, grid, folds=folds, seed=seed)
        elif self.svm_choice is None:
            self.svm_choice = SVMChoice(float(e.svm_C), e.svm_kernel, int(e.svm_degree))
        choice = self.svm_choice
        self.svm = SVMFusion(
            C=choice.C, kernel=choice.kernel, degree=choice.degree, calibration_folds=folds, seed=seed
        ).fit(branches, labels)

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
