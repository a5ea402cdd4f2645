"""The ABAW 2024 system's model: static backbone, embedding and head (Fig. 2), dynamic transformer,
KELM and fusion.

What inference needs (:class:`ABAW24`, :func:`functional_windows`); training is
:mod:`vemd.systems.abaw24.fit`, the evaluation :mod:`vemd.systems.abaw24.evaluate`, the
system's description its package docstring (:mod:`vemd.systems.abaw24`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import timm
import torch
from torch import nn

from vemd.config import Config
from vemd.systems.abaw24.functionals import window_spans
from vemd.systems.abaw24.fusion import RandomForestFusion, apply_weights
from vemd.systems.abaw24.kelm import KELM

DIMENSIONS = ("valence", "arousal")
MODELS = ("dynamic", "kelm")  # the fused models, in the order of the fusion weights' rows
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Vaswani et al.'s fixed positional encoding (the ABAW 2024 paper's ref. [62], §4.4):
    (length, dim), PE[t, 2i] = sin(t / 10000^(2i/dim)), PE[t, 2i + 1] = cos(the same)."""
    t = torch.arange(length, dtype=torch.float32)[:, None]  # (T, 1)
    rates = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (⌈D/2⌉,)
    out = torch.zeros(length, dim)
    out[:, 0::2] = torch.sin(t * rates)
    out[:, 1::2] = torch.cos(t * rates)[:, : dim // 2]
    return out


def minmax(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """x (..., D) mapped by ``low`` and ``high`` (broadcast to it) onto [0, 1] where it spans
    them; a feature with ``high == low`` is only shifted."""
    span = high - low
    return (x - low) / torch.where(span > 0, span, torch.ones_like(span))


class MinMaxScaling(nn.Module):
    """§4.2.2's MinMax scaling of the dynamic model's input: each feature mapped by the minimum
    and maximum it takes over the training set (:meth:`fit`) to [0, 1] there; (..., D) → (..., D).
    A feature constant over the training set is only shifted."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("low", torch.zeros(dim))
        self.register_buffer("high", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Take the minimum and maximum of each feature over every row of x (..., D)."""
        rows = x.reshape(-1, x.shape[-1]).float()
        self.low.copy_(rows.amin(0))
        self.high.copy_(rows.amax(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minmax(x, self.low, self.high)


class VideoMinMaxScaling(nn.Module):
    """§4.2.2's Per-Video-MinMax scaling: "for every video separately, applying normalization
    values only within the corresponding video". Embeddings (B, T, D) and each item's video range
    ``(low, high)``, (B, D) each (:func:`video_ranges`) → (B, T, D); without a range each item is
    taken as a video of its own (its T frames). Nothing is learnt or kept."""

    def forward(self, x: torch.Tensor, video_range: tuple[torch.Tensor, torch.Tensor] | None = None):
        low, high = video_range if video_range is not None else (x.amin(1), x.amax(1))  # (B, D) each
        return minmax(x, low[:, None].to(x), high[:, None].to(x))


def video_ranges(embeddings: torch.Tensor, videos: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Each item's video range for :class:`VideoMinMaxScaling`: the minimum and maximum of every
    feature over all the frames of the items of its video. Embeddings (N, T, D), ``videos`` one
    key per item (N,) → (low, high), (N, D) each."""
    low, high = embeddings.amin(1), embeddings.amax(1)  # (N, D) each: per item first
    rows: dict = {}
    for row, video in enumerate(videos):
        rows.setdefault(video, []).append(row)
    for members in rows.values():
        low[members] = low[members].amin(0)
        high[members] = high[members].amax(0)
    return low, high


class TemporalTransformer(nn.Module):
    """The dynamic model's temporal part (§3.2.2, Fig. 1b): frame embeddings (B, T, D) →
    per-frame valence/arousal (B, T, 2) in [-1, 1].

    The embeddings are normalised (``scaling``: §4.2.2's ``minmax`` or ``minmax_video``, or a
    ``layernorm``),
    projected to ``dim`` when D differs (the paper's transformer works on its 256 features
    themselves), given positions (``position``: §4.4's ``sinusoidal`` encoding, or ``learnt`` ones
    for up to 512 frames), then pass ``layers`` transformer-encoder layers and a tanh head.
    """

    def __init__(
        self,
        in_dim: int,
        dim: int,
        layers: int,
        heads: int,
        dropout: float,
        *,
        scaling: str = "layernorm",
        position: str = "learnt",
        max_frames: int = 512,
    ):
        super().__init__()
        self.per_video = scaling == "minmax_video"
        if scaling in ("minmax", "minmax_video"):
            scale = VideoMinMaxScaling() if self.per_video else MinMaxScaling(in_dim)
            self.project = nn.Sequential(scale, nn.Identity() if in_dim == dim else nn.Linear(in_dim, dim))
        else:
            self.project = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, dim))
        self.learnt_position = position == "learnt"
        if self.learnt_position:
            self.position = nn.Parameter(torch.zeros(1, max_frames, dim))
            nn.init.trunc_normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 2)

    def fit_scaling(self, embeddings: torch.Tensor) -> None:
        """Fit the MinMax scaling to the training embeddings (..., D); a LayerNorm needs none."""
        if isinstance(self.project[0], MinMaxScaling):
            self.project[0].fit(embeddings)

    def forward(
        self, embeddings: torch.Tensor, video_range: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Embeddings (B, T, D) → (B, T, 2); ``video_range``: each item's video range (B, D) each,
        read by the per-video scaling alone (without it, each item is its own video)."""
        scale, project = self.project
        x = project(scale(embeddings, video_range) if self.per_video else scale(embeddings))  # (B, T, dim)
        t = embeddings.shape[1]
        if self.learnt_position:
            x = x + self.position[:, :t]
        else:
            x = x + sinusoidal_positions(t, x.shape[-1]).to(x.device, x.dtype)
        return torch.tanh(self.head(self.encoder(x)))


class FrameEmbedding(nn.Module):
    """The layers §3.2.1 adds to a backbone (Fig. 2) below its regression head: backbone
    features (..., F) → a ``dim``-d embedding (..., dim), "the feature extractors always output
    256 features per frame": linear, batch norm and tanh, as the authors' released models build
    that layer."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, dim)
        self.norm = nn.BatchNorm1d(dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        rows = features.reshape(-1, features.shape[-1])  # (N, F)
        return torch.tanh(self.norm(self.linear(rows))).reshape(*features.shape[:-1], -1)


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
    """Static backbone, embedding and head, dynamic transformer, KELM and fusion weights (the
    package docstring, :mod:`vemd.systems.abaw24`)."""

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
        width = self.backbone.num_features if a.embed_dim is None else a.embed_dim
        self.embedding = (
            nn.Identity() if a.embed_dim is None else FrameEmbedding(self.backbone.num_features, a.embed_dim)
        )
        self.static_head = nn.Linear(width, 2)
        self.dynamic = TemporalTransformer(
            width,
            a.dynamic_dim,
            a.dynamic_layers,
            a.dynamic_heads,
            a.dynamic_dropout,
            scaling=a.dynamic_scaling,
            position=a.dynamic_position,
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

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, 3, S, S) → the backbone's features of each frame (B, T, F)."""
        if self.frozen_backbone:
            return self.backbone.embed_frames(frames)
        b, t = frames.shape[:2]
        x = frames.reshape(b * t, *frames.shape[2:]).float() / 255.0
        return self.backbone((x - self.pixel_mean) / self.pixel_std).reshape(b, t, -1)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, 3, S, S) → per-frame embeddings (B, T, D): what the dynamic
        model and the functionals read (§3.2.1: D = ``embed_dim``, 256 in the paper)."""
        return self.embedding(self.features(frames))

    def static_from_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The static model's regression head: embeddings (..., D) → valence/arousal (..., 2)."""
        return torch.tanh(self.static_head(embeddings))

    def static(self, frames: torch.Tensor) -> torch.Tensor:
        """The static model: frames (B, T, 3, S, S) → (B, T, 2), each frame on its own."""
        return self.static_from_embeddings(self.embed(frames))

    def after_loading(self) -> None:
        self._kelm_from_buffers()
        self._forest_from_buffers()

    def _kelm_from_buffers(self) -> None:
        if not len(self.kelm_x):
            self.kelm = None
            return
        kernel = self.cfg.system.abaw24.kelm_kernel
        self.kelm = KELM(float(self.kelm_C), kernel)
        self.kelm.x_train, self.kelm.beta = self.kelm_x.cpu().numpy(), self.kelm_beta.cpu().numpy()
        gamma = float(self.kelm_gamma)
        self.kelm.gamma_ = None if math.isnan(gamma) else gamma

    def _forest_from_buffers(self) -> None:
        self.forest = None
        if self.cfg.system.abaw24.fusion == "random_forest" and self.rf_preds.shape[1]:
            self.forest = RandomForestFusion(seed=self.cfg.train.seed).fit(
                self.rf_preds.cpu().numpy(), self.rf_targets.cpu().numpy()
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
        return apply_weights(preds, self.fusion_weights.cpu().numpy())

    def video_range(self, embeddings: torch.Tensor, videos: list) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The dynamic model's per-video scaling range of each item (:func:`video_ranges`), None
        where its scaling is not per video. Embeddings (N, T, D), one video key per item."""
        return video_ranges(embeddings, videos) if self.dynamic.per_video else None

    @torch.no_grad()
    def all_predictions(self, frames: torch.Tensor, audio: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Frames (B, T, 3, S, S) → per-frame (B, T, 2) predictions of every model and fused
        (a per-video scaling: each clip taken as its own video); ``audio`` as :meth:`predictions`."""
        return self.predictions(self.embed(frames), audio=audio)

    @torch.no_grad()
    def predictions(
        self,
        embeddings: torch.Tensor,
        video_range: tuple[torch.Tensor, torch.Tensor] | None = None,
        audio: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Embeddings (B, T, D) → per-frame (B, T, 2) predictions of every model and fused;
        ``video_range`` (:meth:`video_range`) of the dynamic model's per-video scaling; ``audio``:
        the audio model's (B, T, 2) at the same frames, a member of the fusion of a model with
        audio (:class:`~vemd.systems.abaw24.audiovisual.ABAW24AudioVisual`; in the result as ``audio``)."""
        out = {
            "static": self.static_from_embeddings(embeddings).double().cpu().numpy(),
            "dynamic": self.dynamic(embeddings, video_range).double().cpu().numpy(),
            "kelm": self.kelm_frames(embeddings.cpu()),
        }
        shape = out["dynamic"].shape  # (B, T, 2)
        if audio is not None:
            out["audio"] = np.asarray(audio, dtype=np.float64).reshape(shape)
        members = (out[m].reshape(-1, 2) for m in ("dynamic", "kelm", "audio") if m in out)
        out["fused"] = np.clip(self.fuse(*members).reshape(shape), -1, 1)
        return out

    def heard(self, frames: torch.Tensor, waveforms=None, present=None) -> np.ndarray | None:
        """The audio model's (B, T, 2) at the frames of windows whose audio is ``waveforms``
        (:meth:`predict_clips`); None: this model has no audio model."""
        return None

    def predict_clips(self, frames: torch.Tensor, waveforms=None, present=None) -> dict:
        """uint8 frames (B, T, 3, S, S) → {"valence": (B,), "arousal": (B,)}: each window's
        fused prediction averaged over its frames (group level: the whole scene's affect); a model
        with audio hears each window's ``waveforms`` (B, N) at 16 kHz, ``present`` (B,) where it
        has audio (:meth:`heard`).

        The frames are taken as given: ``vemd predict`` gives a model of faces each frame's face
        (:class:`vemd.systems.abaw24.faces.FaceView`), and a whole video's windows to a model
        scaled per video (:meth:`predict_video`); alone, a clip is its own video."""
        return self.clip_means(self.all_predictions(frames, self.heard(frames, waveforms, present)))

    @torch.no_grad()
    def predict_video(self, batches: Iterable[tuple]) -> list[dict]:
        """One video's windows a batch at a time, each ``(frames, waveforms, present)`` as
        :meth:`predict_clips` takes them → each batch's :meth:`predict_clips`, in two passes over
        their embeddings: every window embedded (and heard) first, then all predicted, the
        per-video scaling's range taken over all of them (§4.2.2)."""
        embedded, heard = [], []
        for frames, waveforms, present in batches:
            embedded.append(self.embed(frames))  # (B, T, D)
            heard.append(self.heard(frames, waveforms, present))  # (B, T, 2) or None
        if not embedded:
            return []
        every = torch.cat(embedded)
        audio = None if heard[0] is None else np.concatenate(heard)
        fused = self.predictions(every, self.video_range(every, [0] * len(every)), audio)["fused"]
        starts = np.cumsum([0] + [len(e) for e in embedded])
        return [self.clip_means({"fused": fused[a:b]}) for a, b in zip(starts[:-1], starts[1:])]

    @staticmethod
    def clip_means(predictions: dict[str, np.ndarray]) -> dict:
        """{"valence": (B,), "arousal": (B,)}: the fused (B, T, 2) predictions averaged over T."""
        fused = predictions["fused"].mean(1)
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
