"""VE-MD as the frozen video encoder of a multimodal model (paper §7), and its branches.

A multimodal model holds a frozen VE-MD (its clip embedding, frame tokens and logits), an audio
branch (``multimodal.audio.encoder``: the EmotiW 2023 Mel-CNN-transformer trained from scratch,
or the paper's frozen Wav2Vec 2.0 / Whisper encoders with a trained head, §7.1.1), an optional
text branch over per-clip sentence embeddings (§7.2), and a fusion module (§7.1.2): late
fusion, AFG, both (``late+afg``: AFG's audio-video vector joins the late fusion's modality
tokens, vemd's reading of Table 15's "late fusion + AFG" row), or the EmotiW 2023 audio→video
cross-attention. Each branch has its own classifier, trained alone first; the fusion is then
trained on the frozen branches' outputs (§7.1.3).

Every modality's output is a :class:`Features`: clip embedding, tokens with their mask, a
per-clip presence mask and the branch's own logits. A clip without audio (or text) has
``present`` False and the fusion modules leave it out (the modules' own masking).

The audio branch owns how it hears a batch of (B, N) 16 kHz waveforms, each a clip's span (at
most ``multimodal.audio.max_seconds``) zero-padded to the batch's length, so that training,
evaluation, prediction and the audit feed it alike: the Mel-CNN branch reads exactly
``max_seconds`` (cut, or zero-padded: its input has one length, as it was trained); the frozen
Wav2Vec 2.0 / Whisper encoders hear each clip up to its last non-zero sample
(:func:`audio_lengths`), never the padding after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vemd.config import AudioBranchConfig, Config, FusionConfig, TextBranchConfig
from vemd.io import weights_digest
from vemd.models.audio.mel_cnn import AudioEncoding, LogMel, MelCNNTransformer
from vemd.models.audio.pretrained import SAMPLE_RATE
from vemd.models.fusion import AFG, AudioVideoCrossAttention, LateFusion
from vemd.models.text import TextBranch


@dataclass
class Features:
    """One modality of a batch: what the fusion reads.

    Attributes:
        clip: (B, D) clip embedding.
        tokens: (B, S, D) tokens (frames, audio steps; S = 1 where a branch has one vector).
        token_mask: (B, S) bool, True for valid tokens.
        present: (B,) bool, False for a clip without this modality.
        logits: (B, num_classes) of the branch alone.
    """

    clip: torch.Tensor
    tokens: torch.Tensor
    token_mask: torch.Tensor
    present: torch.Tensor
    logits: torch.Tensor

    def index(self, rows: torch.Tensor) -> Features:
        return Features(*(getattr(self, f)[rows] for f in FEATURE_FIELDS))

    def to(self, device: torch.device) -> Features:
        return Features(*(getattr(self, f).to(device) for f in FEATURE_FIELDS))

    @staticmethod
    def cat(parts: list[Features]) -> Features:
        """Concatenate batches; token sequences of different lengths are padded (mask False)."""
        length = max(p.tokens.shape[1] for p in parts)

        def pad(x: torch.Tensor, value) -> torch.Tensor:
            return nn.functional.pad(
                x, (0, 0, 0, length - x.shape[1]) if x.dim() == 3 else (0, length - x.shape[1]), value=value
            )

        return Features(
            torch.cat([p.clip for p in parts]),
            torch.cat([pad(p.tokens, 0.0) for p in parts]),
            torch.cat([pad(p.token_mask, False) for p in parts]),
            torch.cat([p.present for p in parts]),
            torch.cat([p.logits for p in parts]),
        )


FEATURE_FIELDS = ("clip", "tokens", "token_mask", "present", "logits")


def video_features(model, frames: torch.Tensor) -> Features:
    """A frozen stage-2 VE-MD on uint8 frames (B, T, 3, S, S) → its :class:`Features`."""
    out = model.classify(model.preprocess(frames))
    if out.clip_embedding is None:
        raise ValueError("a multimodal model needs a stage-2 VE-MD (its emotion decoder's embeddings)")
    b, t = out.frame_tokens.shape[:2]
    every = torch.ones(b, t, dtype=torch.bool, device=frames.device)
    return Features(out.clip_embedding, out.frame_tokens, every, every[:, 0], out.logits)


class FrozenVideo:
    """A frozen stage-2 VE-MD as the video side of :func:`vemd.data.multimodal.split_inputs`, which
    reads the frames and keeps the features' cache file: this runs the model.

    ``key`` is the identity of its weights (part of the cache file's key), ``fields`` the names
    of the :class:`Features` tensors as the file holds them.
    """

    fields = FEATURE_FIELDS

    def __init__(self, model) -> None:
        self.model = model

    @property
    def key(self) -> str:
        return weights_digest(self.model)

    def __call__(self, frames: torch.Tensor) -> Features:
        """uint8 frames (B, T, 3, S, S) → their :class:`Features` (the model moved to their device)."""
        self.model.to(frames.device).eval()
        return video_features(self.model, frames)

    @staticmethod
    def cat(parts: list[Features]) -> Features:
        return Features.cat(parts)

    @staticmethod
    def from_tensors(tensors: dict[str, torch.Tensor]) -> Features:
        return Features(*(tensors[f] for f in FEATURE_FIELDS))


class MelAudioBranch(nn.Module):
    """The EmotiW 2023 audio branch (trained from scratch) → :class:`Features`."""

    def __init__(self, cfg: AudioBranchConfig, num_classes: int) -> None:
        super().__init__()
        m = cfg.mel_cnn
        log_mel = LogMel(n_fft=m.n_fft, win_length=m.win_length, hop_length=m.hop_length, n_mels=m.n_mels)
        self.net = MelCNNTransformer(
            log_mel=log_mel,
            channels=tuple(m.channels),
            convs_per_block=m.convs_per_block,
            dim=m.dim,
            num_layers=m.num_layers,
            num_heads=m.num_heads,
            feedforward_dim=m.feedforward_dim,
            dropout=m.dropout,
            num_tokens=m.num_tokens,
            num_classes=num_classes,
        )
        self.dim = m.dim
        self.samples = round(cfg.max_seconds * SAMPLE_RATE)  # the one length it reads
        self.trains_encoder = True  # the whole branch learns: its inputs are waveforms

    def forward(self, waveforms: torch.Tensor, present: torch.Tensor, lengths=None) -> Features:
        """(B, N) waveforms, cut or zero-padded to ``samples``, with their (B,) has-audio mask."""
        n = waveforms.shape[1]
        fixed = (
            waveforms[:, : self.samples]
            if n >= self.samples
            else nn.functional.pad(waveforms, (0, self.samples - n))
        )
        encoding: AudioEncoding = self.net(fixed, present)
        return Features(encoding.clip, encoding.tokens, encoding.token_mask, present, encoding.logits)


def audio_lengths(waveforms: torch.Tensor) -> torch.Tensor:
    """(B, N) waveforms → (B,) long: the samples of each up to its last non-zero one (at least 1):
    the zeros after it are the padding that brings clips of different spans to one length."""
    nonzero = waveforms != 0
    last = waveforms.shape[1] - nonzero.flip(1).int().argmax(1)  # one past the last non-zero sample
    return torch.where(nonzero.any(1), last, 1).long()


class PretrainedAudioBranch(nn.Module):
    """Frozen Wav2Vec 2.0 and/or Whisper with the paper's trained head (§7.1.1) → :class:`Features`.

    ``encode`` gives the frozen tokens (cached on disk by the trainer); ``forward`` takes them.
    """

    def __init__(self, cfg: AudioBranchConfig, num_classes: int) -> None:
        super().__init__()
        from vemd.models.audio.pretrained import PaperAudioBranch

        kinds = cfg.encoder.split("+")
        encoders = {kind: _audio_encoder(cfg, kind) for kind in kinds}
        self.branch = PaperAudioBranch(
            encoders.get("wav2vec2"),
            encoders.get("whisper"),
            num_classes=num_classes,
            dim=cfg.cross_dim,
            num_heads=cfg.cross_heads,
            embed_dim=cfg.embed_dim,
            mlp_hidden=cfg.mlp_hidden,
            dropout=cfg.dropout,
        )
        self.dim = cfg.embed_dim
        self.trains_encoder = False

    @property
    def encoders(self) -> nn.ModuleDict:
        return self.branch.encoders

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The head's weights: the frozen encoders' come from their own files."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("branch.encoders.")}

    def forward(
        self,
        waveforms: torch.Tensor | None,
        present: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        tokens: dict | None = None,
    ) -> Features:
        """(B, N) waveforms, each heard for its (B,) ``lengths`` (default: up to its last non-zero
        sample, :func:`audio_lengths`), or the encoders' cached ``tokens``; (B,) has-audio mask."""
        if waveforms is not None and lengths is None:
            lengths = audio_lengths(waveforms)
        logits, embedding = self.branch(waveforms, present, lengths, tokens=tokens)
        return Features(embedding, embedding[:, None], present[:, None], present, logits)


def _audio_encoder(cfg: AudioBranchConfig, kind: str):
    from vemd.models.audio.pretrained import load_audio_encoder

    random = cfg.random_wav2vec2 if kind == "wav2vec2" else cfg.random_whisper
    name = cfg.wav2vec2 if kind == "wav2vec2" else cfg.whisper
    if random is None:
        return load_audio_encoder(kind, name)
    from transformers import Wav2Vec2Config, WhisperConfig

    torch.manual_seed(0)  # a random encoder is the same one in every process that builds it
    config = (Wav2Vec2Config if kind == "wav2vec2" else WhisperConfig)(**random)
    return load_audio_encoder(kind, f"random-{kind}", config=config)


def build_audio_branch(cfg: AudioBranchConfig, num_classes: int) -> nn.Module | None:
    if cfg.encoder == "none":
        return None
    if cfg.encoder == "mel_cnn":
        return MelAudioBranch(cfg, num_classes)
    return PretrainedAudioBranch(cfg, num_classes)


class TextFeatures(nn.Module):
    """The text branch (§7.2) → :class:`Features`."""

    def __init__(self, cfg: TextBranchConfig, text_dim: int, num_classes: int) -> None:
        super().__init__()
        self.branch = TextBranch(
            text_dim=text_dim,
            embed_dim=cfg.embed_dim,
            num_classes=num_classes,
            mlp_hidden=cfg.mlp_hidden,
            dropout=cfg.dropout,
        )
        self.text_dim, self.dim = text_dim, cfg.embed_dim

    def forward(self, embeddings: torch.Tensor, present: torch.Tensor) -> Features:
        logits, embedding = self.branch(embeddings, present)
        return Features(embedding, embedding[:, None], present[:, None], present, logits)


class Fusion(nn.Module):
    """The configured fusion of the modalities' :class:`Features` → fused logits (B, num_classes)."""

    def __init__(self, cfg: FusionConfig, dims: dict[str, int], num_classes: int) -> None:
        super().__init__()
        self.kind, self.modalities = cfg.kind, list(cfg.modalities)
        missing = [m for m in self.modalities if m not in dims]
        if missing:
            raise ValueError(f"fusion over {self.modalities}: no branch gives {missing}")
        if cfg.kind in ("afg", "late+afg"):
            self.afg = AFG(
                audio_dim=dims["audio"],
                video_dim=dims["video"],
                num_classes=num_classes,
                dim=cfg.dim,
                gate_hidden=cfg.gate_hidden,
                mlp_hidden=cfg.mlp_hidden,
                dropout=cfg.dropout,
            )
        if cfg.kind in ("late", "late+afg"):
            inputs = {m: dims[m] for m in self.modalities}
            if cfg.kind == "late+afg":
                inputs["afg"] = cfg.dim
            self.late = LateFusion(
                input_dims=inputs,
                num_classes=num_classes,
                dim=cfg.dim,
                num_heads=cfg.num_heads,
                mlp_hidden=cfg.mlp_hidden,
                dropout=cfg.dropout,
            )
        if cfg.kind == "cross_attention":
            self.cross = AudioVideoCrossAttention(
                audio_dim=dims["audio"],
                video_dim=dims["video"],
                num_classes=num_classes,
                dim=cfg.dim,
                num_heads=cfg.num_heads,
                dropout=cfg.dropout,
            )

    def forward(self, features: dict[str, Features]) -> torch.Tensor:
        if self.kind == "afg":
            a, v = features["audio"], features["video"]
            return self.afg(a.clip, v.clip, a.present)[0]
        if self.kind == "cross_attention":
            a, v = features["audio"], features["video"]
            audio_mask = a.token_mask & a.present[:, None]
            return self.cross(v.tokens, a.tokens, video_mask=v.token_mask, audio_mask=audio_mask)
        clips = {m: features[m].clip for m in self.modalities}
        masks = {m: features[m].present for m in self.modalities}
        if self.kind == "late+afg":
            a, v = features["audio"], features["video"]
            clips["afg"] = self.afg.fuse(a.clip, v.clip, a.present)[0]
            masks["afg"] = v.present
        return self.late(clips, masks)


class MultimodalVEMD(nn.Module):
    """A frozen VE-MD with audio / text branches and their fusion (paper §7).

    ``forward`` gives the logits of each modality alone and fused: {"video", "audio", "text",
    "fused"} for the modalities the model has.
    """

    def __init__(
        self,
        cfg: Config,
        video: nn.Module,
        *,
        text_dim: int | None = None,
    ) -> None:
        super().__init__()
        mm, num_classes = cfg.multimodal, cfg.model.num_classes
        self.video = video.eval().requires_grad_(False)
        self.audio = build_audio_branch(mm.audio, num_classes)
        self.text = (
            TextFeatures(mm.text, text_dim, num_classes) if mm.text.enabled and text_dim is not None else None
        )
        if mm.text.enabled and self.text is None:
            raise ValueError("multimodal.text.enabled needs the width of the text embeddings (text_dim)")
        self.modalities = list(mm.fusion.modalities)
        self.fusion = Fusion(mm.fusion, self.dims(), num_classes)

    def dims(self) -> dict[str, int]:
        dims = {"video": self.video.emotion_decoder.frame_dim}
        if self.audio is not None:
            dims["audio"] = self.audio.dim
        if self.text is not None:
            dims["text"] = self.text.dim
        return dims

    def train(self, mode: bool = True) -> MultimodalVEMD:
        super().train(mode)
        self.video.eval()  # frozen (§7.1.3): no dropout, no posterior sampling
        return self

    def branch_features(
        self,
        frames: torch.Tensor,
        waveforms: torch.Tensor | None = None,
        audio_present: torch.Tensor | None = None,
        text: torch.Tensor | None = None,
        text_present: torch.Tensor | None = None,
    ) -> dict[str, Features]:
        """Every branch on one batch: uint8 frames (B, T, 3, S, S), 16 kHz waveforms (B, N) with
        their has-audio mask (B,), text embeddings (B, text_dim) with their has-text mask (B,)."""
        out = {"video": video_features(self.video, frames)}
        b = frames.shape[0]
        if self.audio is not None and waveforms is not None:
            present = torch.ones(b, dtype=torch.bool) if audio_present is None else audio_present.bool()
            out["audio"] = self.audio(waveforms, present.to(waveforms.device))
        if self.text is not None and text is not None:
            present = torch.ones(b, dtype=torch.bool) if text_present is None else text_present.bool()
            out["text"] = self.text(text, present.to(text.device))
        return out

    def fuse(self, features: dict[str, Features]) -> torch.Tensor:
        """Fused logits; a modality the batch lacks is missing for every clip."""
        b = features["video"].clip.shape[0]
        filled = dict(features)
        for name in self.modalities:
            if name not in filled:
                filled[name] = absent(b, self.dims()[name], features["video"].clip)
        return self.fusion(filled)

    def forward(self, frames: torch.Tensor, **inputs) -> dict[str, torch.Tensor]:
        features = self.branch_features(frames, **inputs)
        logits = {name: f.logits for name, f in features.items()}
        logits["fused"] = self.fuse(features)
        return logits


def absent(batch: int, dim: int, like: torch.Tensor) -> Features:
    """Features of a modality no clip of the batch has."""
    none = torch.zeros(batch, dtype=torch.bool, device=like.device)
    return Features(
        like.new_zeros(batch, dim),
        like.new_zeros(batch, 1, dim),
        none[:, None],
        none,
        like.new_zeros(batch, 1),
    )
