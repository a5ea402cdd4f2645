"""The ABAW 2024 audio model (its §3.1, §4.2.1, Table 2): 16 kHz windows → valence and arousal.

"The backbone of all models is based on the Public Dimensional Emotion Model (PDEM)" (§3.1),
audeering's wav2vec2-large-robust fine-tuned on MSP-Podcast's arousal, dominance and valence:
``system.abaw24.audio.encoder`` names it (or any wav2vec2 model), read from a local folder or the
Hugging Face cache by vemd's one encoder loader (:func:`vemd.models.audio.pretrained.
load_audio_encoder`, never the network; its one-line error says how to get the weights), which
also normalises each window as the checkpoint expects. On its tokens (B, S, D):

* ``v1`` (AudioModelV1): two GRU layers of 256 units;
* ``v2`` / ``v3`` (AudioModelV2 / V3): two transformer-encoder layers of 32 / 16 heads;

then "we aggregate the information along the temporal axis using 1D CNN and apply two subsequent
Fully Connected Layer[s] for feature compression and prediction generation" (:class:`AudioHead`:
a 3-wide convolution over time, the mean over the valid tokens, a ``fc_dim`` layer and a tanh
output of 2). "We fine-tune all the layers from the top to the last two (AudioModelV1 and
AudioModelV2) or four (AudioModelV3) encoding layers of the backbone": the encoder's top
``finetune_layers`` transformer layers (and its closing layer norm) train, the rest stays frozen;
the encoder stays in eval mode (no dropout, no SpecAugment masking), as vemd's frozen encoders do.

§4.2.1's augmentations, polarity inversion, white noise and a change of volume, are
:func:`augment`. The windows, their targets and the frames they cover are
:mod:`~vemd.systems.abaw24.audio_windows`; training is :mod:`~vemd.systems.abaw24.audio_fit`.
"""

from __future__ import annotations

import torch
from torch import nn

from vemd.config import ABAW24AudioConfig
from vemd.models.audio.pretrained import AudioEncoder, masked_mean

# head → (temporal layers, attention heads (None: GRU), encoder layers fine-tuned by default), §3.1
HEADS = {"v1": ("gru", None, 2), "v2": ("transformer", 32, 2), "v3": ("transformer", 16, 4)}


class AudioHead(nn.Module):
    """§3.1's layers over the encoder: tokens (B, S, D) and validity (B, S) → (B, 2) in [-1, 1].

    Two GRU layers (``heads`` None) or two transformer-encoder layers of ``heads`` heads, a 1-D
    convolution over time, the mean over the valid tokens, a ``fc_dim`` compression and the tanh
    output. A window without a valid token gives the output of a zero vector."""

    def __init__(
        self, dim: int, *, heads: int | None, gru_dim: int, cnn_channels: int, fc_dim: int, dropout: float
    ) -> None:
        super().__init__()
        if heads is None:
            self.temporal = nn.GRU(dim, gru_dim, num_layers=2, batch_first=True, dropout=dropout)
            width = gru_dim
        else:
            if dim % heads:
                raise ValueError(f"the audio encoder's width {dim} is not a multiple of {heads} heads")
            layer = nn.TransformerEncoderLayer(
                dim, heads, 2 * dim, dropout, batch_first=True, norm_first=True
            )
            self.temporal = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            width = dim
        self.gru = heads is None
        self.conv = nn.Conv1d(width, cnn_channels, kernel_size=3, padding=1)
        self.compress = nn.Linear(cnn_channels, fc_dim)
        self.out = nn.Linear(fc_dim, 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if self.gru:  # one-way: the padding after a window's last token changes none before it
            x = self.temporal(tokens)[0]  # (B, S, gru_dim)
        else:
            x = self.temporal(tokens, src_key_padding_mask=~valid)  # (B, S, D)
        x = x.masked_fill(~valid[..., None], 0.0)
        x = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, S, cnn_channels)
        pooled = masked_mean(x, valid)  # (B, cnn_channels)
        return torch.tanh(self.out(self.dropout(torch.relu(self.compress(pooled)))))


class AudioVA(nn.Module):
    """The audio model: a wav2vec2 :class:`~vemd.models.audio.pretrained.AudioEncoder` whose top
    ``finetune_layers`` layers train, and an :class:`AudioHead`; waveforms (B, N) → (B, 2)."""

    def __init__(self, encoder: AudioEncoder, head: AudioHead, *, finetune_layers: int) -> None:
        super().__init__()
        if encoder.kind != "wav2vec2":
            raise ValueError(f"the ABAW 2024 audio model reads a wav2vec2 encoder, got {encoder.kind}")
        self.encoder, self.head = encoder, head
        layers = encoder.model.encoder.layers
        self.finetune_layers = min(finetune_layers, len(layers))
        tuned = list(layers[len(layers) - self.finetune_layers :]) if self.finetune_layers else []
        if tuned and encoder.model.config.do_stable_layer_norm:  # its norm closes the stack
            tuned.append(encoder.model.encoder.layer_norm)
        for part in tuned:
            part.requires_grad_(True)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) 16 kHz waveforms, each (B,) samples long (default N) → valence, arousal (B, 2)."""
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long)
        values, attention = self.encoder.wav2vec2_inputs(waveforms, lengths)  # (B, N')
        model = self.encoder.model
        # the frozen layers keep no graph: autograd starts at the first fine-tuned one
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.finetune_layers > 0):
            tokens = model(values, attention_mask=attention).last_hidden_state  # (B, S, D)
        counts = model._get_feat_extract_output_lengths(lengths.long().cpu()).clamp(min=0)  # (B,)
        valid = (torch.arange(tokens.shape[1]) < counts[:, None]).to(tokens.device)  # (B, S)
        return self.head(tokens.float(), valid)

    @torch.no_grad()
    def predict(self, waveforms: torch.Tensor, lengths: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Every window's prediction, ``batch_size`` at a time: (W, N), (W,) → (W, 2) float64."""
        parameter = next(self.parameters())
        out = [
            self(waveforms[rows].to(parameter.device, torch.float32), lengths[rows]).double().cpu()
            for rows in torch.arange(len(waveforms)).split(batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, 2, dtype=torch.float64)


def build_audio_model(au: ABAW24AudioConfig, *, encoder_config: dict | None = None) -> AudioVA:
    """The audio model of ``system.abaw24.audio``: its encoder read by name or folder (fitting),
    built from ``encoder_config`` (a model file's: its weights are the file's own) or from
    ``random_encoder`` (random weights, tests) without reading anything."""
    from transformers import Wav2Vec2Config

    from vemd.models.audio.pretrained import load_audio_encoder

    config = encoder_config if encoder_config is not None else au.random_encoder
    if config is None:
        encoder = load_audio_encoder("wav2vec2", au.encoder)
    else:
        torch.manual_seed(0)  # a random encoder is the same one in every process that builds it
        encoder = load_audio_encoder("wav2vec2", au.encoder, config=Wav2Vec2Config(**config))
    kind, heads, tuned = HEADS[au.head]
    head = AudioHead(
        encoder.dim,
        heads=heads,
        gru_dim=au.gru_dim,
        cnn_channels=au.cnn_channels,
        fc_dim=au.fc_dim,
        dropout=au.dropout,
    )
    return AudioVA(encoder, head, finetune_layers=tuned if au.finetune_layers is None else au.finetune_layers)


def augment(
    waveforms: torch.Tensor,
    lengths: torch.Tensor,
    au: ABAW24AudioConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """§4.2.1's augmentations of (B, N) windows, each drawn per window: polarity inversion
    (``polarity_prob``), white noise at ``noise_snr_db`` below the window's power
    (``noise_prob``), a gain uniform in ±``gain_db`` (``gain_prob``), clipped to [-1, 1]; the
    padding after each window's ``lengths`` (B,) samples stays zero. Draws from ``generator``,
    else from torch's seeded global generator (what training's exact resume relies on)."""
    b, n = waveforms.shape
    x = waveforms.float().clone()
    inside = torch.arange(n)[None] < lengths.cpu()[:, None]  # (B, N)

    def draw() -> torch.Tensor:  # (B, 1) uniform
        return torch.rand(b, 1, generator=generator)

    flip = draw() < au.polarity_prob
    x = torch.where(flip, -x, x)
    power = (x.square() * inside).sum(1, keepdim=True) / inside.sum(1, keepdim=True).clamp(min=1)
    noise = torch.randn(b, n, generator=generator) * (power / 10 ** (au.noise_snr_db / 10)).sqrt()
    x = x + torch.where(draw() < au.noise_prob, noise, torch.zeros_like(noise))
    gain = 10 ** ((2 * draw() - 1) * au.gain_db / 20)
    x = torch.where(draw() < au.gain_prob, x * gain, x)
    return (x.clamp(-1, 1) * inside).to(waveforms.dtype)
