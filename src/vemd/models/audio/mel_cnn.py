"""Audio branch of the authors' EmotiW 2023 system: log-Mel → 4 CNN blocks → transformer encoder.

The EmotiW 2023 paper ("Multimodal group emotion recognition in-the-wild using
privacy-compliant features", ICMI 2023, its audio branch) feeds Mel-spectrograms through four
CNN blocks into a transformer encoder and gives no spectrogram settings; its released code loads
precomputed spectrograms, so n_fft, hop and the number of Mel bands are not known. vemd's are
the usual speech analysis at 16 kHz: 25 ms Hann windows (400 samples, FFT of 512) every 10 ms
(160 samples), 128 Mel bands, natural log of the Mel power plus 1e-6.

The encoder's sizes are those the released code trains with: four blocks of three 3×3
convolutions ending at 64 / 128 / 256 / 512 channels, each closed by a 2×2 max-pool; a
1024-wide, single-layer, single-head transformer with a 2048-wide feed-forward and sinusoidal
positions; the clip embedding is the mean of the tokens. There, each of 5 spectrogram segments
of a clip becomes one 1024-d token (512 channels × a 1×2 average pool), with dropouts of 0.2 on
attention and 0.5 in the feed-forward. vemd's differences: every convolution of a block has
the block's width and is padded and followed by a BatchNorm; the frequency axis is averaged
and each remaining time step is projected to one token (``num_tokens`` averages them down to a
fixed count, e.g. 5); PyTorch's encoder layer has a single dropout, 0.2 here.

Clips without audio (the data layer gives zeros and ``present=False``) are not run through the
branch at all: their tokens and clip embedding are zeros, their ``token_mask`` is False, so the
fusion modules leave them out, and they take no part in the BatchNorm statistics of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import torch
from torch import nn

from vemd.models.emotion_decoder import sinusoidal_positions

NUM_POOLS = 4  # one 2×2 max-pool per CNN block


class LogMel(nn.Module):
    """Waveform (B, N) float at ``sample_rate`` → log-Mel (B, 1, n_mels, 1 + N // hop_length).

    |STFT|² with a periodic Hann window of ``win_length`` (centred in ``n_fft``), frames centred
    on multiples of ``hop_length`` with zero padding at the ends (librosa's defaults), Slaney
    Mel filterbank of ``librosa.filters.mel`` (a buffer, not saved: derived from the settings),
    then ``log(mel + eps)`` in natural-log units.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16_000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if win_length > n_fft:
            raise ValueError(f"win_length={win_length} exceeds n_fft={n_fft}")
        self.n_fft, self.win_length, self.hop_length, self.eps = n_fft, win_length, hop_length, eps
        basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)  # (n_mels, n_fft/2+1)
        self.register_buffer("window", torch.hann_window(win_length, periodic=True), persistent=False)

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // self.hop_length

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Waveform (B, N) → log-Mel (B, 1, n_mels, frames)."""
        if waveform.ndim != 2:
            raise ValueError(f"waveform must be (B, N), got shape {tuple(waveform.shape)}")
        stft = torch.stft(
            waveform.float(),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )  # (B, n_fft/2+1, frames)
        mel = self.mel_basis @ stft.abs().square()  # (B, n_mels, frames)
        return torch.log(mel + self.eps).unsqueeze(1)


def conv_block(in_channels: int, out_channels: int, num_convs: int) -> nn.Sequential:
    """[3×3 conv → BN → ReLU] × num_convs → 2×2 max-pool: (B, in, F, T) → (B, out, ⌈F/2⌉, ⌈T/2⌉)."""
    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers += [
            nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.MaxPool2d(2, ceil_mode=True))
    return nn.Sequential(*layers)


@dataclass
class AudioEncoding:
    """What an audio branch gives the fusion modules.

    Attributes:
        tokens: (B, S, D) per-time tokens; zeros for clips without audio.
        token_mask: (B, S) bool, True for tokens to attend to (all False without audio).
        clip: (B, D) clip embedding, the mean of the tokens; zeros without audio.
        logits: (B, num_classes) audio-only logits, or None without a classifier head.
    """

    tokens: torch.Tensor
    token_mask: torch.Tensor
    clip: torch.Tensor
    logits: torch.Tensor | None = None


class MelCNNTransformer(nn.Module):
    """Waveform → log-Mel → 4 CNN blocks → tokens over time → transformer encoder.

    Args:
        log_mel: the spectrogram front end (its settings decide the token rate).
        channels: output channels of the four CNN blocks.
        convs_per_block: 3×3 convolutions in each block.
        dim: D, width of the tokens and the transformer.
        num_layers, num_heads, feedforward_dim, dropout: the transformer encoder.
        num_tokens: average the time steps down to this many tokens (None: one per column).
        num_classes: add a linear head on the clip embedding for audio-only training.
    """

    def __init__(
        self,
        *,
        log_mel: LogMel | None = None,
        channels: tuple[int, ...] = (64, 128, 256, 512),
        convs_per_block: int = 3,
        dim: int = 1024,
        num_layers: int = 1,
        num_heads: int = 1,
        feedforward_dim: int = 2048,
        dropout: float = 0.2,
        num_tokens: int | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if len(channels) != NUM_POOLS:
            raise ValueError(f"channels must name {NUM_POOLS} CNN blocks, got {len(channels)}")
        self.log_mel = log_mel or LogMel()
        widths = (1, *channels)
        self.cnn = nn.Sequential(*(conv_block(a, b, convs_per_block) for a, b in zip(widths, widths[1:])))
        self.proj = nn.Linear(channels[-1], dim)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, feedforward_dim, dropout, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.dim, self.num_tokens = dim, num_tokens
        self.head = nn.Linear(dim, num_classes) if num_classes is not None else None

    def sequence_length(self, num_samples: int) -> int:
        """S, the number of tokens for a clip of ``num_samples`` samples."""
        if self.num_tokens is not None:
            return self.num_tokens
        steps = self.log_mel.num_frames(num_samples)
        for _ in range(NUM_POOLS):
            steps = -(-steps // 2)
        return steps

    def encode(self, waveform: torch.Tensor) -> torch.Tensor:
        """Waveform (P, N) of clips that have audio → tokens (P, S, D)."""
        x = self.cnn(self.log_mel(waveform))  # (P, C, F', T')
        x = x.mean(dim=2)  # (P, C, T'): frequency pooled, time kept
        if self.num_tokens is not None:
            x = nn.functional.adaptive_avg_pool1d(x, self.num_tokens)
        x = self.proj(x.transpose(1, 2))  # (P, S, D)
        x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
        return self.transformer(x)

    def forward(self, waveform: torch.Tensor, mask: torch.Tensor | None = None) -> AudioEncoding:
        """Waveform (B, N), mask (B,) bool (True: the clip has audio; None: all have) → encoding."""
        b, n = waveform.shape
        present = torch.ones(b, dtype=torch.bool, device=waveform.device) if mask is None else mask
        if present.shape != (b,) or present.dtype != torch.bool:
            raise ValueError(f"audio mask must be ({b},) bool, got {present.dtype} {tuple(present.shape)}")
        seq = self.sequence_length(n)
        tokens = waveform.new_zeros(b, seq, self.dim, dtype=torch.float32)
        index = present.nonzero().squeeze(1)
        if index.numel():
            encoded = self.encode(waveform[index])  # (P, S, D)
            tokens = tokens.to(encoded.dtype).index_copy(0, index, encoded)
        clip = tokens.mean(1)  # the mean of the tokens; zeros for clips without audio
        logits = self.head(clip) if self.head is not None else None
        return AudioEncoding(tokens, present[:, None].expand(b, seq), clip, logits)
