"""PersonQuery decoder (paper §3.2.1, Figure 2): a DETR/PETR-style set predictor of persons' limbs.

latent → auxiliary residual module (F1, F2, F3) → one token sequence with sinusoidal 2-D
positions and a learned level embedding → transformer encoder/decoder with Q learnable
queries → per query a limb head (4·L endpoint coordinates) and an adjacency head
(L × L limb connectivity). An optional ST-GCN refines the predicted structures over the
skeleton's joints and the clip's frames before they are handed to the emotion decoder as SR
features (:class:`vemd.models.stgcn.SkeletonSTGCN`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vemd.models.personquery.aux_module import AuxiliaryModule
from vemd.models.personquery.matcher import hungarian_match, pad_targets
from vemd.models.personquery.position_encoding import sine_position_encoding
from vemd.models.stgcn import SkeletonSTGCN
from vemd.structure.skeleton import Skeleton


class PersonQueryDecoder(nn.Module):
    """Predicts Q person structures per frame from the latent map.

    Args:
        in_channels: channels C of the latent map.
        num_limbs: L, limbs per person (must equal ``skeleton.num_limbs``).
        num_queries: Q, the most persons predicted per frame.
        hidden_dim: transformer width D.
        num_layers: encoder and decoder layers each.
        num_heads: attention heads.
        stgcn: refine the SR features with an ST-GCN over joints and frames.
        skeleton: limb set; its joint graph is the ST-GCN's.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_limbs: int,
        num_queries: int,
        hidden_dim: int = 256,
        num_layers: int = 3,
        num_heads: int = 8,
        stgcn: bool = False,
        skeleton: Skeleton,
    ) -> None:
        super().__init__()
        if skeleton.num_limbs != num_limbs:
            raise ValueError(f"num_limbs={num_limbs} but skeleton {skeleton.name!r} has {skeleton.num_limbs}")
        self.num_limbs = num_limbs
        self.num_queries = num_queries
        self.aux = AuxiliaryModule(in_channels, hidden_dim)
        self.level_embed = nn.Parameter(torch.randn(3, hidden_dim) * 0.02)
        self.transformer = nn.Transformer(
            d_model=hidden_dim,
            nhead=num_heads,
            num_encoder_layers=num_layers,
            num_decoder_layers=num_layers,
            dim_feedforward=4 * hidden_dim,
            batch_first=True,
        )
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.limb_head = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, 4 * num_limbs),
        )
        self.adjacency_head = nn.Linear(hidden_dim, num_limbs * num_limbs)
        self.stgcn = SkeletonSTGCN(skeleton, max(hidden_dim // 4, 4)) if stgcn else None

    def _tokens(self, latent: Tensor) -> Tensor:
        """(N, C, h, w) → (N, S, D) multi-scale tokens with position and level embeddings."""
        tokens = []
        for level, feature in enumerate(self.aux(latent)):
            _, dim, height, width = feature.shape
            pos = sine_position_encoding(height, width, dim, device=feature.device).to(feature.dtype)
            tokens.append(feature.flatten(2).transpose(1, 2) + pos + self.level_embed[level])  # (N, h·w, D)
        return torch.cat(tokens, dim=1)

    def forward(self, latent: Tensor, num_frames: int = 1) -> dict[str, Tensor]:
        """Predict the person structures of every frame.

        Args:
            latent: (N, C, h, w) latent maps, N = B·T frames in (B, T) order.
            num_frames: T, frames per clip (used by the ST-GCN).
        Returns:
            ``pred_limbs`` (N, Q, 4L) endpoints in [0, 1], ``pred_adjacency`` (N, Q, L, L)
            symmetric limb connectivity in [0, 1]; with the ST-GCN also ``sr_refined``
            (N, Q, 4L), the refined structures used as SR features.
        """
        memory_tokens = self._tokens(latent)  # (N, S, D)
        queries = self.query_embed.weight.expand(latent.shape[0], -1, -1)  # (N, Q, D); not len(): exportable
        hidden = self.transformer(memory_tokens, queries)  # (N, Q, D)
        logits = self.adjacency_head(hidden).view(*hidden.shape[:2], self.num_limbs, self.num_limbs)
        out = {
            "pred_limbs": self.limb_head(hidden).sigmoid(),
            "pred_adjacency": (0.5 * (logits + logits.transpose(-1, -2))).sigmoid(),
        }
        if self.stgcn is not None:
            out["sr_refined"] = self.stgcn(out["pred_limbs"], num_frames)
        return out

    def sr_features(self, out: dict[str, Tensor]) -> Tensor:
        """Raw SR for the emotion decoder: (N, 4·Q·L), ST-GCN-refined when enabled."""
        return out.get("sr_refined", out["pred_limbs"]).flatten(1)

    def loss(
        self, out: dict[str, Tensor], targets: list[dict[str, Tensor]]
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Structural loss terms after Hungarian matching (§3.2.1), unweighted.

        Matched queries regress their person's visible limbs and adjacency; unmatched
        queries are pulled toward the empty structure (all zeros). The criterion weighs the
        terms (β_limb, β_adj); persons beyond Q are counted in the diagnostics.

        Args:
            out: ``forward`` output.
            targets: N dicts of ``limbs`` (P, 4L), ``limb_mask`` (P, L), ``adjacency`` (P, L, L).
        Returns:
            terms ``loss_limb`` (smooth L1) and ``loss_adj`` (BCE); diagnostics
            ``num_unmatched_persons``.
        """
        pred_limbs = out["pred_limbs"].float()
        num_items, num_queries, _ = pred_limbs.shape
        shape = (num_items, num_queries, self.num_limbs)
        padded = pad_targets(targets, self.num_limbs, pred_limbs.device)
        matches = hungarian_match(pred_limbs, padded)
        frame, query, person = (
            torch.from_numpy(np.concatenate(parts).astype(np.int64)).to(pred_limbs.device)
            for parts in zip(*[(np.full(len(q), i), q, p) for i, (q, p) in enumerate(matches)])
        )

        target_limbs = pred_limbs.new_zeros(*shape, 4)
        weight = pred_limbs.new_ones(shape)
        target_adjacency = pred_limbs.new_zeros(*shape, self.num_limbs)
        target_limbs[frame, query] = padded.limbs[frame, person]
        weight[frame, query] = padded.limb_mask[frame, person]
        target_adjacency[frame, query] = padded.adjacency[frame, person]

        limb_error = F.smooth_l1_loss(pred_limbs.view(*shape, 4), target_limbs, reduction="none").sum(-1)
        loss_limb = (limb_error * weight).sum() / (4 * weight.sum()).clamp(min=1)
        with torch.autocast(device_type=pred_limbs.device.type, enabled=False):
            loss_adj = F.binary_cross_entropy(out["pred_adjacency"].float(), target_adjacency)
        num_unmatched = int(padded.counts.sum()) - len(person)
        terms = {"loss_limb": loss_limb, "loss_adj": loss_adj}
        return terms, {"num_unmatched_persons": torch.tensor(float(num_unmatched), device=pred_limbs.device)}
