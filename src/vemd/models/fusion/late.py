"""Late fusion of the branches' clip embeddings (paper §7.1.2, with text §7.2).

Each modality's clip embedding is linearly projected to a common D (1024 in the paper: audio
§7.1.3, the 4096-d text embeddings §7.2), the modality tokens (B, M, D) go through multi-head
self-attention, a Frame Attention Pooling (§3.3) reduces them to one vector, and an MLP
classifies it. The attention has a pre-norm residual (vemd's choice: each token keeps its own
embedding beside what it attends to).

A modality missing for an item (its mask False, or absent from the input) is a padded key in
the attention and has no weight in the pooling, so nothing of its input reaches that item's
logits.
"""

from __future__ import annotations

import torch
from torch import nn

from vemd.models.emotion_decoder import FrameAttentionPooling, mlp_head


def masked_attention_pool(
    pool: FrameAttentionPooling, tokens: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """FAP of the tokens (B, M, D) where mask (B, M) is True → (B, D); equal to ``pool`` with all True."""
    scores = pool.score(tokens).masked_fill(~mask[..., None], float("-inf"))  # (B, M, 1)
    return (scores.softmax(dim=1) * tokens).sum(1)


class LateFusion(nn.Module):
    """Clip embeddings of any subset of modalities → projected tokens → self-attention → FAP → MLP.

    Args:
        input_dims: width of each modality's clip embedding, e.g. ``{"video": 4160, "audio": 1024}``;
            the order is the token order.
        num_classes: number of emotion classes.
        dim: D, the common width.
        num_heads: heads of the self-attention over modalities.
        mlp_hidden: hidden width of the classifier MLP.
        dropout: in the attention and the MLP.
    """

    def __init__(
        self,
        *,
        input_dims: dict[str, int],
        num_classes: int,
        dim: int = 1024,
        num_heads: int,
        mlp_hidden: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if not input_dims:
            raise ValueError("late fusion needs at least one modality in input_dims")
        self.proj = nn.ModuleDict({name: nn.Linear(width, dim) for name, width in input_dims.items()})
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.pool = FrameAttentionPooling(dim)
        self.head = mlp_head(dim, mlp_hidden, num_classes, dropout)

    def forward(
        self, embeddings: dict[str, torch.Tensor], mask: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Embeddings {modality: (B, D_m)}, mask {modality: (B,) bool, True: present} → logits (B, num_classes).

        Modalities absent from ``embeddings`` are missing for every item; absent from ``mask``,
        present for every item. Each item needs at least one present modality.
        """
        unknown = sorted(set(embeddings) - set(self.proj))
        if unknown:
            raise ValueError(f"late fusion has no projection for {unknown}; it knows {list(self.proj)}")
        names = [name for name in self.proj if name in embeddings]
        if not names:
            raise ValueError("late fusion was given no modality")
        b = embeddings[names[0]].shape[0]
        mask = mask or {}
        for name, m in mask.items():
            if m.shape != (b,) or m.dtype != torch.bool:
                raise ValueError(f"mask[{name!r}] must be ({b},) bool, got {m.dtype} {tuple(m.shape)}")
        present = torch.stack(
            [
                mask.get(name, torch.ones(b, dtype=torch.bool, device=embeddings[name].device))
                for name in names
            ],
            dim=1,
        )  # (B, M)
        if not present.any(1).all():
            raise ValueError("every item needs at least one present modality (mask)")
        # a missing input is zeroed before its projection: even a NaN reaches neither logits nor gradients
        tokens = torch.stack(
            [
                self.proj[name](torch.where(present[:, i, None], embeddings[name], 0))
                for i, name in enumerate(names)
            ],
            dim=1,
        )  # (B, M, D)
        x = self.norm(tokens)
        attended, _ = self.attn(x, x, x, key_padding_mask=~present, need_weights=False)
        return self.head(masked_attention_pool(self.pool, tokens + attended, present))
