"""Bi-LSTM with local attention over window features: the audio branch's classifier (§II-C, Fig. 3).

The EmotiW 2020 audio-video system feeds the sliding-window features of a clip
(:mod:`vemd.systems.emotiw20.window_features`) to a bidirectional LSTM whose outputs are pooled by
a weighted average learnt with the network, "to focus on the sound parts with strong emotional
characteristics", then classified (§II-C, adapted from its reference [18]).

vemd's reading, after that reference (speech emotion recognition with recurrent networks and
local attention): each window passes through a front-end of fully connected ReLU layers
(512, 512, each followed by dropout 0.5), then a bidirectional LSTM of 128 cells per direction
gives y_t (2 × 128). The attention is local: window t's weight comes from its own output,
α_t = softmax_t(u · c_t) with c_t = y_t and u a learnt vector, and the clip vector
z = Σ_t α_t y_t is classified by one linear layer (softmax of the logits = class probabilities).
``attention_window`` = w > 1 widens the context of a weight to the mean of the outputs of the w
windows centred on t (valid windows only); w = 1 is the reference. u starts at zero, so
training starts from the plain mean of the outputs.

Clips of different lengths are padded to S windows and come with a (B, S) mask, True on the
real windows, which must come first: the LSTM runs on each clip's real windows only (packed
sequences) and padded windows get no weight, so padding never changes a clip's output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLSTMAttention(nn.Module):
    """Window features (B, S, input_dim) and mask (B, S) → logits (B, num_classes)."""

    def __init__(
        self,
        input_dim: int,
        *,
        hidden: int = 128,
        num_layers: int = 1,
        num_classes: int = 3,
        dropout: float = 0.5,
        attention_window: int = 1,
        frontend: tuple[int, ...] = (512, 512),
    ) -> None:
        super().__init__()
        if attention_window < 1 or attention_window % 2 == 0:
            raise ValueError(f"attention_window must be odd and ≥ 1 (centred), got {attention_window}")
        layers: list[nn.Module] = []
        width = input_dim
        for size in frontend:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.frontend = nn.Sequential(*layers)
        self.lstm = nn.LSTM(
            width,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.attention_window = attention_window
        self.attention = nn.Parameter(torch.zeros(2 * hidden))  # u
        self.classifier = nn.Linear(2 * hidden, num_classes)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """features (B, S, input_dim), mask (B, S) bool (None: all real) → logits (B, num_classes)."""
        outputs, weights = self.encode(features, mask)
        pooled = torch.einsum("bs,bsd->bd", weights, outputs)  # (B, 2H)
        return self.classifier(pooled)

    def attention_weights(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pooling weights α (B, S): each row sums to 1, zero on padded windows."""
        return self.encode(features, mask)[1]

    def encode(
        self, features: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """LSTM outputs y (B, S, 2H), zero on padded windows, and attention weights α (B, S)."""
        batch, steps, _ = features.shape
        mask = _check_mask(mask, batch, steps, features.device)
        lengths = mask.sum(dim=1)
        x = self.frontend(features)  # (B, S, D)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=steps)  # (B, S, 2H)
        scores = self._context(outputs, mask) @ self.attention  # (B, S)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=1)
        return outputs, weights

    def _context(self, outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """c_t (B, S, 2H): the mean of the real outputs among the attention_window centred on t."""
        if self.attention_window == 1:
            return outputs
        w, pad = self.attention_window, self.attention_window // 2
        valid = mask.unsqueeze(1).to(outputs.dtype)  # (B, 1, S)
        total = F.avg_pool1d(outputs.transpose(1, 2) * valid, w, stride=1, padding=pad)  # (B, 2H, S)
        count = F.avg_pool1d(valid, w, stride=1, padding=pad)  # (B, 1, S)
        return (total / count.clamp_min(1e-6)).transpose(1, 2)


def _check_mask(mask: torch.Tensor | None, batch: int, steps: int, device: torch.device) -> torch.Tensor:
    if mask is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    if mask.shape != (batch, steps):
        raise ValueError(f"mask must be (B, S) = {(batch, steps)}, got {tuple(mask.shape)}")
    mask = mask.bool()
    lengths = mask.sum(dim=1)
    if (lengths == 0).any():
        raise ValueError("every clip needs at least one real window (a mask row is all False)")
    if not torch.equal(mask, torch.arange(steps, device=mask.device) < lengths.unsqueeze(1)):
        raise ValueError("mask must mark each clip's real windows first, then its padding")
    return mask
