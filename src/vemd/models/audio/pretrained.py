"""The paper's audio branch (§7.1.1, §7.1.3): frozen Wav2Vec 2.0 and Whisper encoders, bidirectional
cross-attention, a linear projection to 1024 and an MLP classifier.

Wav2Vec 2.0 gives the acoustic tokens A (paralinguistic cues), the Whisper encoder the content
tokens C (lexical and semantic cues; the paper uses Whisper medium). With both, A and C are
projected to a common width D and ``Att_AC = Attention(A, C, C)``, ``Att_CA = Attention(C, A, A)``;
the clip representation concatenates the pooled A, C, Att_AC and Att_CA. With one encoder there
is no cross-attention: its pooled tokens are the representation. Either way a linear layer maps
it to the 1024-d clip embedding, which an MLP classifies.

The encoders stay frozen (no gradient, eval mode through ``.train()``) and own their input
features, so training, evaluation and inference feed the same raw 16 kHz waveforms. The frozen
part ends at :meth:`PaperAudioBranch.encode`; its token sequences can be cached on disk
(:mod:`vemd.data.audio_cache`) and fed back through ``forward(tokens=...)``.

Loading weights (:func:`load_audio_encoder`) reads a local folder or the Hugging Face cache and
never the network; building a branch from a config gives the same classes with random weights.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from vemd.errors import VemdError
from vemd.io import weights_digest
from vemd.models.emotion_decoder import mlp_head

ENCODER_KINDS = ("wav2vec2", "whisper")
SAMPLE_RATE = 16_000  # both encoders are trained on 16 kHz speech
EMBED_DIM = 1024  # §7.1.3: audio features are projected to 1024
WHISPER_HOP = 160  # Whisper's log-Mel frames: 25 ms windows (n_fft 400) every 10 ms


class AudioEncoder(nn.Module):
    """A frozen speech encoder that computes its own input features: waveforms → token sequence.

    ``wav2vec2``: waveforms normalised to zero mean and unit variance over each clip's samples
    (``Wav2Vec2FeatureExtractor``), one token per 20 ms. ``whisper``: 80- (or 128-) bin log-Mel
    features padded to the encoder's window (30 s for released checkpoints, longer clips are cut
    to it: ``WhisperFeatureExtractor``), one token per 20 ms; only the tokens of real audio are
    marked valid. Neither extractor has weights: both are built from the model's config.

    Args:
        kind: ``wav2vec2`` (acoustic tokens A) or ``whisper`` (content tokens C).
        model: a ``Wav2Vec2Model`` or a ``WhisperEncoder``.
        name: its hub name or folder, part of :attr:`encoder_id`.
    """

    def __init__(self, kind: str, model: nn.Module, *, name: str) -> None:
        super().__init__()
        from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor

        if kind not in ENCODER_KINDS:
            raise ValueError(f"audio encoder kind must be one of {ENCODER_KINDS}, got {kind!r}")
        self.kind = kind
        self.name = name
        self.model = model.eval().requires_grad_(False)
        config = model.config
        if kind == "wav2vec2":
            # the attention mask is only meant for layer-norm checkpoints (HF's own rule for this extractor)
            self.extractor = Wav2Vec2FeatureExtractor(
                sampling_rate=SAMPLE_RATE, return_attention_mask=config.feat_extract_norm == "layer"
            )
            self.min_samples = _min_wav2vec2_samples(model)
        else:
            self.token_stride = model.conv1.stride[0] * model.conv2.stride[0]  # mel frames per token
            samples = config.max_source_positions * self.token_stride * WHISPER_HOP
            if samples % SAMPLE_RATE:
                raise ValueError(f"{name}: Whisper window of {samples} samples is not whole seconds")
            self.extractor = WhisperFeatureExtractor(
                feature_size=config.num_mel_bins,
                sampling_rate=SAMPLE_RATE,
                hop_length=WHISPER_HOP,
                chunk_length=samples // SAMPLE_RATE,
            )

    @property
    def dim(self) -> int:
        """Width of the tokens."""
        return self.model.config.hidden_size if self.kind == "wav2vec2" else self.model.config.d_model

    @cached_property
    def encoder_id(self) -> str:
        """Identity of the tokens this encoder computes: kind, name, config and weights (for caches)."""
        config = json.dumps(self.model.config.to_diff_dict(), sort_keys=True, default=str)
        setting = f"{self.kind}\n{self.name}\n{config}\n{weights_digest(self.model)}"
        return f"{self.kind}-{hashlib.sha256(setting.encode()).hexdigest()[:16]}"

    def train(self, mode: bool = True) -> AudioEncoder:
        super().train(mode)
        self.model.eval()  # frozen: no dropout, no SpecAugment masking
        return self

    @torch.no_grad()
    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None):
        """(B, N) 16 kHz waveforms, (B,) valid samples each (default N) → tokens (B, S, dim) float32
        and their validity (B, S) bool. A clip too short for one token has none valid."""
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long)
        lengths = lengths.long().cpu()
        if self.kind == "wav2vec2":
            values, attention = self.wav2vec2_inputs(waveforms, lengths)
            tokens = self.model(values, attention_mask=attention).last_hidden_state  # (B, S, dim)
            counts = self.model._get_feat_extract_output_lengths(lengths).clamp(min=0)  # (B,)
            valid = torch.arange(tokens.shape[1]) < counts[:, None]
        else:
            clips = [w[:n].float().cpu().numpy() for w, n in zip(waveforms, lengths.tolist())]
            parameter = next(self.model.parameters())
            inputs = self.extractor(
                clips,
                sampling_rate=SAMPLE_RATE,
                return_attention_mask=True,
                return_tensors="pt",
                device=str(waveforms.device),
            )
            features = inputs.input_features.to(parameter.device, parameter.dtype)  # (B, mels, stride·S)
            tokens = self.model(features).last_hidden_state  # (B, S, dim)
            valid = inputs.attention_mask[:, :: self.token_stride].bool()  # (B, S): tokens of real audio
        return tokens.float(), valid.to(tokens.device)

    def wav2vec2_inputs(
        self, waveforms: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What a wav2vec2 model reads of (B, N) waveforms with (B,) valid samples: each clip
        normalised over its own samples and zero-padded, (B, N') on the model's device and dtype
        (N' at least one token's worth), and the attention mask where the checkpoint takes one."""
        clips = [w[:n].float().cpu().numpy() for w, n in zip(waveforms, lengths.long().cpu().tolist())]
        parameter = next(self.model.parameters())
        inputs = self.extractor(
            clips,
            sampling_rate=SAMPLE_RATE,
            padding="max_length",
            max_length=max(int(lengths.max()), self.min_samples),
            return_attention_mask=True,
            return_tensors="pt",
        )
        attention = (
            inputs.attention_mask.to(parameter.device) if self.extractor.return_attention_mask else None
        )
        return inputs.input_values.to(parameter.device, parameter.dtype), attention


def _min_wav2vec2_samples(model: nn.Module) -> int:
    """Fewest samples the convolutional feature encoder turns into one token (400 for released models)."""
    kernels, strides = model.config.conv_kernel, model.config.conv_stride
    samples = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        samples = (samples - 1) * stride + kernel
    return samples


def load_audio_encoder(kind: str, name_or_path: str, *, config=None) -> AudioEncoder:
    """The frozen ``wav2vec2`` or ``whisper`` encoder ``name_or_path``: a local folder, or a hub name
    already in the Hugging Face cache (never downloaded). With ``config`` (a ``Wav2Vec2Config`` /
    ``WhisperConfig``) the same class is built with random weights and nothing is read.

    Raises:
        VemdError: the weights are not there, on one line saying how to supply them.
    """
    from transformers import Wav2Vec2Model, WhisperModel
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    if kind not in ENCODER_KINDS:
        raise VemdError(f"audio encoder kind must be one of {', '.join(ENCODER_KINDS)}, got {kind!r}")
    if config is not None:
        model = Wav2Vec2Model(config) if kind == "wav2vec2" else WhisperEncoder(config)
        return AudioEncoder(kind, model, name=name_or_path)
    cls = Wav2Vec2Model if kind == "wav2vec2" else WhisperModel
    try:
        model = cls.from_pretrained(name_or_path, local_files_only=True, dtype=torch.float32)
    except OSError as err:
        if Path(name_or_path).exists():
            raise VemdError(f"{name_or_path}: no readable {kind} model in this folder ({err})") from err
        raise VemdError(
            f"{name_or_path}: not in the Hugging Face cache and no network; download it once with "
            f"`hf download {name_or_path}` or give a local folder holding the {kind} model"
        ) from err
    if kind == "whisper":
        model = model.get_encoder()  # the decoder never runs: only the encoder is kept
    return AudioEncoder(kind, model, name=name_or_path)


def masked_mean(tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of the valid tokens: (B, S, D), (B, S) → (B, D); zeros where none is valid."""
    weights = valid.unsqueeze(-1).to(tokens.dtype)  # (B, S, 1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class PaperAudioBranch(nn.Module):
    """Waveforms, or their cached tokens → (logits (B, num_classes), clip embedding (B, embed_dim)).

    A clip without audio (``mask`` False), or one too short for a single token of an encoder, is
    never encoded: its embedding is the learned ``missing`` vector (zeros at start), so its logits
    are a learned prior and a fusion model can tell it apart by the mask. Outputs stay finite.

    Args:
        acoustic: the frozen Wav2Vec 2.0 encoder (tokens A), or None.
        content: the frozen Whisper encoder (tokens C), or None; at least one of the two.
        num_classes: classes of the MLP classifier.
        dim: D, the width A and C are projected to for cross-attention (both encoders only).
        num_heads: heads of each cross-attention.
        embed_dim: width of the clip embedding (1024 in the paper).
        mlp_hidden, dropout: the classifier MLP (LayerNorm → linear → ReLU → dropout → linear).
    """

    def __init__(
        self,
        acoustic: AudioEncoder | None,
        content: AudioEncoder | None,
        *,
        num_classes: int,
        dim: int = 512,
        num_heads: int = 8,
        embed_dim: int = EMBED_DIM,
        mlp_hidden: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        encoders = {"acoustic": acoustic, "content": content}
        self.encoders = nn.ModuleDict({name: enc for name, enc in encoders.items() if enc is not None})
        if not self.encoders:
            raise ValueError("the audio branch needs an acoustic (wav2vec2) or a content (whisper) encoder")
        self.cross = len(self.encoders) == 2
        if self.cross:
            self.proj_a = nn.Linear(acoustic.dim, dim)
            self.proj_c = nn.Linear(content.dim, dim)
            self.attn_ac = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
            self.attn_ca = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
            width = 4 * dim
        else:
            width = next(iter(self.encoders.values())).dim
        self.embed = nn.Linear(width, embed_dim)
        self.missing = nn.Parameter(torch.zeros(embed_dim))
        self.classifier = mlp_head(embed_dim, mlp_hidden, num_classes, dropout)

    def encode(
        self, waveforms: torch.Tensor, mask: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The frozen part: (B, N) waveforms, (B,) has-audio mask, (B,) valid samples → per encoder
        name (``acoustic`` / ``content``) its tokens (B, S, dim) and validity (B, S). Clips without
        audio get zero tokens, none valid."""
        b = waveforms.shape[0]
        present = torch.ones(b, dtype=torch.bool) if mask is None else mask.bool().cpu()
        index = present.nonzero().squeeze(1)
        if lengths is not None:
            lengths = lengths[index.to(lengths.device)]
        out = {}
        for name, encoder in self.encoders.items():
            if len(index):
                tokens, valid = encoder(waveforms[index.to(waveforms.device)], lengths)  # (M, S, dim), (M, S)
            else:
                tokens = torch.zeros(0, 1, encoder.dim, device=waveforms.device)
                valid = torch.zeros(0, 1, dtype=torch.bool, device=waveforms.device)
            full = tokens.new_zeros(b, *tokens.shape[1:])  # (B, S, dim)
            full_valid = valid.new_zeros(b, valid.shape[1])  # (B, S)
            full[index.to(full.device)] = tokens
            full_valid[index.to(full.device)] = valid
            out[name] = (full, full_valid)
        return out

    def forward(
        self,
        waveforms: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        *,
        tokens: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N) waveforms with (B,) has-audio ``mask`` and (B,) valid ``lengths``, or the ``tokens``
        of :meth:`encode` → logits (B, num_classes) and clip embedding (B, embed_dim)."""
        if tokens is None:
            tokens = self.encode(waveforms, mask, lengths)
        any_tokens = next(iter(tokens.values()))[0]
        present = torch.ones(any_tokens.shape[0], dtype=torch.bool, device=any_tokens.device)
        if mask is not None:
            present = present & mask.to(present.device).bool()
        for _, valid in tokens.values():
            present = present & valid.any(1)
        if self.cross:
            (a, a_valid), (c, c_valid) = tokens["acoustic"], tokens["content"]
            a, c = self.proj_a(a), self.proj_c(c)  # (B, Sa, D), (B, Sc, D)
            # a clip with no valid key (no audio) attends to nothing: torch gives zeros, not NaN
            att_ac, _ = self.attn_ac(a, c, c, key_padding_mask=~c_valid, need_weights=False)
            att_ca, _ = self.attn_ca(c, a, a, key_padding_mask=~a_valid, need_weights=False)
            pooled = [masked_mean(a, a_valid), masked_mean(c, c_valid)]
            pooled += [masked_mean(att_ac, a_valid), masked_mean(att_ca, c_valid)]
            representation = torch.cat(pooled, dim=-1)  # (B, 4·D)
        else:
            representation = masked_mean(*next(iter(tokens.values())))  # (B, dim)
        embedding = torch.where(present[:, None], self.embed(representation), self.missing)  # (B, embed_dim)
        return self.classifier(embedding), embedding
