"""The ABAW 2024 valence/arousal system, as a vemd system (``system.kind: abaw24``).

Per-frame valence and arousal in [-1, 1] (the ABAW 2024 VA paper, §3):

* **static model** (§3.2): a per-frame timm backbone (EfficientNet-B1 by default; any timm
  name, or vemd's small ``plain`` stack for drawn scenes) with a 2-output head, fine-tuned on
  single frames against their valence/arousal with ``static_loss`` (LogCosh, §5.2). The paper's
  backbone was first pretrained on emotion data; ``backbone: vemd`` with ``weights: model.pt``
  uses a trained VE-MD that way (frozen: each frame's emotion-decoder token, the head alone
  trained), which is how the built-in recipe gets a backbone that already reads drawn faces;
* **dynamic model** (§3.2, Fig. 1b): the static backbone frozen; its embeddings of a window's
  frames go through a temporal transformer encoder (learnt positions) that predicts every
  frame. The window is the item's ``data.frames`` frames ``data.frame_interval`` seconds apart:
  the paper's 1–8 s at 5 fps are ``frames`` 5–40 with ``frame_interval: 0.2``;
* **functionals + KELM** (§3.2, Eq. 1): mean / min / max (``functionals``) of the embeddings
  over non-overlapping ``functional_window_s`` windows, a Kernel ELM (β = (I/C + K)⁻¹T,
  :class:`vemd.systems.abaw24.kelm.KELM`) per window, its C chosen on the validation split (the
  paper's development set) from ``kelm_C``; each frame takes its window's prediction;
* **decision fusion** (§3.3): Dirichlet-based random weighted fusion
  (:func:`vemd.systems.abaw24.fusion.dirichlet_fusion_search`) or a random forest
  (:class:`vemd.systems.abaw24.fusion.RandomForestFusion`) over the dynamic and KELM predictions, fitted
  on the validation split; ``none`` keeps the dynamic model alone;
* **post-processing** (§3.4): ``vemd predict`` interpolates the window predictions to the
  video's frame rate and smooths them with a ``smoothing_s`` Hamming window
  (:mod:`vemd.inference.smoothing`).

Targets come from each item's per-frame ``va`` (AffWild2 files, SynthGroups ``--va``), or, for
an item without any per-frame value, from its clip-level valence/arousal on every frame; frames
without a target are left out of every loss and score (CCC, Eq. 2, per dimension; their mean is the
challenge score). The static and dynamic models train with :func:`vemd.train.epochs.train_epochs`
(the dynamic model's ``loss``: 1 − CCC, LogCosh or MSE, summed over the two dimensions; the best validation mean
CCC kept; resumable, exact after a kill). The model file holds the KELM's training windows and
β, the Dirichlet weights, and for a random forest the validation predictions it is refitted on
when the file is read (no estimator is pickled).

The sampled frames are taken as ``data.frame_interval`` seconds apart when the functional
windows are cut, whatever ``data.sampling``: uniform sampling of short clips (SynthGroups) gives
one window per ``functional_window_s / frame_interval`` frames.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import timm
import torch
from torch import nn

from vemd.config import Config, to_yaml
from vemd.data.dataset import collate
from vemd.systems.abaw24.fusion import RandomForestFusion, apply_weights, dirichlet_fusion_search
from vemd.systems.abaw24.functionals import window_spans
from vemd.systems.abaw24.kelm import KELM
from vemd.models.regression import ccc, regression_loss
from vemd.io import atomic_write_text
from vemd.systems.common import save_system, split_data, stage_setting
from vemd.train.epochs import EpochSettings, train_epochs

log = logging.getLogger(__name__)

DIMENSIONS = ("valence", "arousal")
MODELS = ("dynamic", "kelm")  # the fused models, in the order of the fusion weights' rows
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TemporalTransformer(nn.Module):
    """Frame embeddings (B, T, D) → per-frame valence/arousal (B, T, 2) in [-1, 1]."""

    def __init__(self, in_dim: int, dim: int, layers: int, heads: int, dropout: float, max_frames: int = 512):
        super().__init__()
        self.project = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, dim))
        self.position = nn.Parameter(torch.zeros(1, max_frames, dim))
        nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 2)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        x = self.project(embeddings) + self.position[:, : embeddings.shape[1]]
        return torch.tanh(self.head(self.encoder(x)))


class VEMDFrameEncoder(nn.Module):
    """A trained VE-MD as the static backbone (``backbone: vemd``): each frame seen alone, as a
    one-frame clip, and its emotion-decoder frame token as the embedding. It stays frozen and in
    eval mode: only the static head trains over it (the built-in stand-in for the paper's
    backbone pretrained on emotion data)."""

    def __init__(self, video: nn.Module) -> None:
        super().__init__()
        self.video = video.eval()
        for p in self.video.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            probe = torch.zeros(1, 1, 3, video.image_size, video.image_size, dtype=torch.uint8)
            self.num_features = int(self.embed_frames(probe).shape[-1])

    def train(self, mode: bool = True):  # never leaves eval mode (dropout, batch norm statistics)
        return super().train(False)

    @torch.no_grad()
    def embed_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, 3, S, S) → (B, T, D)."""
        b, t = frames.shape[:2]
        single = frames.reshape(b * t, 1, *frames.shape[2:])
        out = self.video.classify(self.video.preprocess(single), stage="2")
        return out.frame_tokens.reshape(b, t, -1).float()


class ABAW24(nn.Module):
    """Static backbone + head, dynamic transformer, KELM and fusion weights (module docstring)."""

    sized_by_training = ("kelm_x", "kelm_beta", "rf_preds", "rf_targets")
    regression = True  # valence/arousal only: results carry no class

    def __init__(self, cfg: Config, *, for_loading: bool = False, extra: dict | None = None) -> None:
        super().__init__()
        a = cfg.system.abaw24
        self.vemd_part: dict | None = None  # the VE-MD backbone's config, kept in the model file
        self.cfg = cfg
        self.image_size = cfg.model.image_size
        self.smoothing_s = a.smoothing_s
        if a.backbone == "vemd":
            self.backbone = VEMDFrameEncoder(self._vemd_backbone(cfg, for_loading, extra))
        elif a.backbone == "plain":
            from vemd.models.custom_encoder import PlainEncoder

            encoder = PlainEncoder(a.plain_channels)
            self.backbone = nn.Sequential(encoder, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.backbone.num_features = encoder.num_features
        else:
            self.backbone = timm.create_model(
                a.backbone, pretrained=a.pretrained and not for_loading, num_classes=0
            )
        if a.weights and not for_loading and a.backbone != "vemd":
            from vemd.models.inflated import _read_state_dict

            state = _read_state_dict(Path(a.weights))
            self.backbone.load_state_dict(
                {k: v for k, v in state.items() if not k.startswith("classifier.")}, strict=False
            )
        width = self.backbone.num_features
        self.static_head = nn.Linear(width, 2)
        self.dynamic = TemporalTransformer(
            width, a.dynamic_dim, a.dynamic_layers, a.dynamic_heads, a.dynamic_dropout
        )
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("kelm_x", torch.zeros(0, width * len(a.functionals), dtype=torch.float64))
        self.register_buffer("kelm_beta", torch.zeros(0, 2, dtype=torch.float64))
        self.register_buffer("kelm_gamma", torch.tensor(float("nan"), dtype=torch.float64))
        self.register_buffer("kelm_C", torch.tensor(1.0, dtype=torch.float64))
        self.register_buffer(
            "fusion_weights", torch.full((len(MODELS), 2), 1.0 / len(MODELS), dtype=torch.float64)
        )
        self.register_buffer("rf_preds", torch.zeros(len(MODELS), 0, 2, dtype=torch.float64))
        self.register_buffer("rf_targets", torch.zeros(0, 2, dtype=torch.float64))
        self.kelm: KELM | None = None
        self.forest: RandomForestFusion | None = None

    def _vemd_backbone(self, cfg: Config, for_loading: bool, extra: dict | None) -> nn.Module:
        """The VE-MD of ``weights`` (fitting), or one of the architecture the model file keeps
        (loading: its weights are among this model's own)."""
        from vemd.config import ConfigError, from_dict, to_dict
        from vemd.models.build import build_model
        from vemd.models.checkpoint import load_model

        if for_loading:
            part = (extra or {}).get("vemd_backbone")
            if not isinstance(part, dict):
                raise ValueError("the model file keeps no VE-MD backbone config")
            video = build_model(from_dict(part["config"]).model, inference=True, load_weights=False)
            video.stage = "2"
            self.vemd_part = part
            return video
        path = cfg.system.abaw24.weights
        if not path:
            raise ConfigError("system.abaw24.backbone=vemd needs system.abaw24.weights: a VE-MD model.pt")
        video, video_cfg, _ = load_model(path)
        if video.stage != "2":
            raise ConfigError(f"{path}: a stage-1 model; the backbone must be a stage-2 VE-MD")
        if video.image_size != cfg.model.image_size:
            raise ConfigError(
                f"{path}: a VE-MD of {video.image_size}-px frames, but model.image_size={cfg.model.image_size}"
            )
        self.vemd_part = {"config": to_dict(video_cfg)}
        return video

    def extra_state_for_file(self) -> dict:
        return {"vemd_backbone": self.vemd_part} if self.vemd_part is not None else {}

    # ---- parts ------------------------------------------------------------------------------

    @property
    def frozen_backbone(self) -> bool:
        return isinstance(self.backbone, VEMDFrameEncoder)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, 3, S, S) → per-frame embeddings (B, T, D)."""
        if self.frozen_backbone:
            return self.backbone.embed_frames(frames)
        b, t = frames.shape[:2]
        x = frames.reshape(b * t, *frames.shape[2:]).float() / 255.0
        return self.backbone((x - self.pixel_mean) / self.pixel_std).reshape(b, t, -1)

    def static(self, frames: torch.Tensor) -> torch.Tensor:
        """The static model: frames (B, T, 3, S, S) → (B, T, 2), each frame on its own."""
        return torch.tanh(self.static_head(self.embed(frames)))

    def after_loading(self) -> None:
        self._kelm_from_buffers()
        self._forest_from_buffers()

    def _kelm_from_buffers(self) -> None:
        if not len(self.kelm_x):
            self.kelm = None
            return
        kernel = self.cfg.system.abaw24.kelm_kernel
        self.kelm = KELM(float(self.kelm_C), kernel)
        self.kelm.x_train, self.kelm.beta = self.kelm_x.numpy(), self.kelm_beta.numpy()
        gamma = float(self.kelm_gamma)
        self.kelm.gamma_ = None if math.isnan(gamma) else gamma

    def _forest_from_buffers(self) -> None:
        self.forest = None
        if self.cfg.system.abaw24.fusion == "random_forest" and self.rf_preds.shape[1]:
            self.forest = RandomForestFusion(seed=self.cfg.train.seed).fit(
                self.rf_preds.numpy(), self.rf_targets.numpy()
            )

    # ---- predictions ------------------------------------------------------------------------

    def window_rate(self) -> float:
        return 1.0 / self.cfg.data.frame_interval

    def kelm_frames(self, embeddings: torch.Tensor) -> np.ndarray:
        """KELM predictions spread over frames: embeddings (B, T, D) → (B, T, 2)."""
        features, owners = functional_windows(embeddings, self.window_rate(), self.cfg.system.abaw24)
        out = np.zeros((embeddings.shape[0], embeddings.shape[1], 2))
        if self.kelm is None or not len(features):
            return out
        values = self.kelm.predict(features)
        for (item, start, end), value in zip(owners, values):
            out[item, start:end] = value
        # frames past the last whole window take the last window's value
        for item in range(embeddings.shape[0]):
            last = max((e for i, _, e in owners if i == item), default=0)
            if 0 < last < embeddings.shape[1]:
                out[item, last:] = out[item, last - 1]
        return np.clip(out, -1, 1)

    def fuse(self, dynamic: np.ndarray, kelm: np.ndarray) -> np.ndarray:
        """Per-frame predictions (N, 2) of both models → fused (N, 2) by the configured fusion."""
        kind = self.cfg.system.abaw24.fusion
        if kind == "none":
            return dynamic
        preds = np.stack([dynamic, kelm])
        if kind == "random_forest" and self.forest is not None:
            return self.forest.predict(preds)
        return apply_weights(preds, self.fusion_weights.numpy())

    @torch.no_grad()
    def all_predictions(self, frames: torch.Tensor) -> dict[str, np.ndarray]:
        """Frames (B, T, 3, S, S) → per-frame (B, T, 2) predictions of every model and fused."""
        embeddings = self.embed(frames)
        static = torch.tanh(self.static_head(embeddings)).double().cpu().numpy()
        dynamic = self.dynamic(embeddings).double().cpu().numpy()
        kelm = self.kelm_frames(embeddings.cpu())
        b, t = dynamic.shape[:2]
        fused = self.fuse(dynamic.reshape(-1, 2), kelm.reshape(-1, 2)).reshape(b, t, 2)
        return {"static": static, "dynamic": dynamic, "kelm": kelm, "fused": np.clip(fused, -1, 1)}

    def predict_clips(self, frames: torch.Tensor, waveforms=None, present=None) -> dict:
        """uint8 frames (B, T, 3, S, S) → {"valence": (B,), "arousal": (B,)}: each window's
        fused prediction averaged over its frames (group level: the whole scene's affect)."""
        fused = self.all_predictions(frames)["fused"].mean(1)
        return {"valence": fused[:, 0], "arousal": fused[:, 1]}


def functional_windows(
    embeddings: torch.Tensor, rate: float, a
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Functionals of every item's windows: (W, D · F) features and (item, start, end) per row."""
    x = embeddings.double().cpu().numpy()
    spans = window_spans(x.shape[1], rate, a.functional_window_s)
    if not len(spans):  # a clip shorter than half a window: one window over all of it
        spans = np.array([[0, x.shape[1]]])
    reducers = {"mean": np.mean, "min": np.min, "max": np.max, "std": np.std}
    rows, owners = [], []
    for item in range(x.shape[0]):
        for start, end in spans:
            part = x[item, start:end]
            rows.append(np.concatenate([reducers[f](part, axis=0) for f in a.functionals]))
            owners.append((item, int(start), int(end)))
    return np.asarray(rows), owners


# ------------------------------------------------------------------------------------ targets


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


def _batches(dataset, rows: torch.Tensor, size: int):
    for part in rows.split(size):
        yield part, collate([dataset[int(i)] for i in part])


# ------------------------------------------------------------------------------------ training


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
    for _, batch in _batches(dataset, torch.arange(len(dataset)), batch_size):
        embeds.append(model.embed(batch["frames"]))
        targets.append(frame_targets(batch))
        ids += batch["clip_id"]
    return torch.cat(embeds), torch.cat(targets), ids


def fit_abaw24(cfg: Config, *, resume: bool = False) -> dict:
    """Static model, dynamic model, KELM, fusion; writes ``model.pt``, ``fit.json`` and the card."""
    a = cfg.system.abaw24
    out = Path(cfg.train.out_dir)
    folder = out / "abaw24"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", to_yaml(cfg))
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
        for _, batch in _batches(val, torch.arange(len(val)), a.static.batch_size):
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
        settings=EpochSettings.of(a.static, cfg.train.seed),
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
        settings=EpochSettings.of(a.dynamic, cfg.train.seed),
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
    _write_card(cfg, path, summary)
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


def _write_card(cfg: Config, path: Path, summary: dict) -> None:
    from vemd.systems.card import write_system_card

    a, d = cfg.system.abaw24, cfg.data
    facts = {
        "system": "abaw24",
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
    write_system_card(path, facts)


# ---------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_abaw24(
    checkpoint: str | Path,
    *,
    split: str | None = None,
    out_dir: str | Path | None = None,
    data_cfg: Config | None = None,
    device: str | torch.device = "cpu",
    group_sizes=None,
) -> dict:
    """CCC per dimension and their mean, frame-wise, of every model and the fusion on ``split``.

    Writes ``metrics.json``, ``va.md`` (the table) and ``predictions.csv`` (one row per item:
    its mean fused valence/arousal and targets) into ``out_dir``.
    """
    from vemd.systems import open_for_test
    from vemd.systems.card import add_system_evaluation

    model, cfg, class_names, split, out, dataset = open_for_test(checkpoint, split, out_dir, data_cfg, device)
    preds: dict[str, list[np.ndarray]] = {}
    targets, ids = [], []
    for _, batch in _batches(dataset, torch.arange(len(dataset)), cfg.system.abaw24.dynamic.batch_size):
        for name, value in model.all_predictions(batch["frames"].to(model.pixel_mean.device)).items():
            preds.setdefault(name, []).append(value)
        targets.append(frame_targets(batch).double().numpy())
        ids += batch["clip_id"]
    target = np.concatenate(targets)
    per_model = {name: np.concatenate(parts) for name, parts in preds.items()}
    metrics = {name: ccc_scores(p.reshape(-1, 2), target.reshape(-1, 2)) for name, p in per_model.items()}
    out.mkdir(parents=True, exist_ok=True)
    labelled = int(np.isfinite(target.reshape(-1, 2)).all(axis=1).sum())
    from vemd.eval.report import write_metrics_json

    write_metrics_json(
        out / "metrics.json",
        {"models": metrics, **metrics["fused"]},
        {
            "split": split,
            "checkpoint": str(checkpoint),
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
        f"# ABAW 2024 system on split {split!r} (frame-wise CCC, {labelled} labelled frames)",
        "",
        "| model | valence CCC | arousal CCC | mean |",
        "|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['valence_ccc']:.4f} | {m['arousal_ccc']:.4f} | {m['mean_ccc']:.4f} |")
    atomic_write_text(out / "va.md", "\n".join(lines) + "\n")
    add_system_evaluation(
        checkpoint, split, {f"{n} mean CCC": round(m["mean_ccc"], 4) for n, m in metrics.items()}, out
    )
    return {"split": split, "models": metrics, "report": str(out)}
