"""On-disk cache of the frozen ViT branch's tokens, so stage 2 runs the ViT once per frame.

Valid only when the ViT is frozen and its input is not augmented: then a clip's
frames, and so its tokens, are the same at every epoch. Entries live under
``<root>/<key>/<aa>/<hash>.safetensors`` where ``key`` hashes the ViT weights, the dataset root,
the frame sampling and the input size: changing any of them starts a new cache. Entries are
vemd's cache files (:func:`vemd.io.write_tensors`: safetensors, written atomically, so a killed
run leaves no partial entry; the clip id is their key).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch

from vemd.io import read_tensors, write_tensors
from vemd.models.checkpoint import weights_digest


class FeatureCache:
    """Maps (clip id → (T, D, gh, gw) tokens) for one model/data setting.

    Args:
        root: cache folder.
        vit: the frozen ViT module whose outputs are cached (its weights are part of the key).
        setting: everything else the tokens depend on (dataset root, frames, sampling, size).
    """

    def __init__(self, root: str | Path, vit: torch.nn.Module, setting: dict) -> None:
        key = hashlib.sha256(
            json.dumps({"weights": weights_digest(vit), **setting}, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        self.folder = Path(root) / key
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = self.misses = 0

    def _path(self, clip_id: str) -> Path:
        name = hashlib.sha1(clip_id.encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.safetensors"

    def get(
        self, clip_ids: list[str], frames: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """Tokens (B, T, D, gh, gw) of a batch; ``compute(frames[missing])`` fills the misses."""
        cached = [self._load(c, frames.shape[1]) for c in clip_ids]
        missing = [i for i, t in enumerate(cached) if t is None]
        if missing:
            with torch.no_grad():
                fresh = compute(frames[missing]).detach().to(torch.float16)  # as stored
            for i, tokens in zip(missing, fresh):
                self._store(clip_ids[i], tokens)
                cached[i] = tokens
        self.hits += len(clip_ids) - len(missing)
        self.misses += len(missing)
        return torch.stack([t.to(frames.device, frames.dtype) for t in cached])

    def _load(self, clip_id: str, num_frames: int) -> torch.Tensor | None:
        """The cached (T, D, gh, gw) tokens of a clip; None when absent or not a valid entry
        (damaged, foreign, another clip's, wrongly shaped: it is recomputed and rewritten)."""
        entry = read_tensors(self._path(clip_id), key=clip_id)
        tokens = None if entry is None else entry.get("tokens")
        valid = isinstance(tokens, torch.Tensor) and tokens.dim() == 4 and tokens.shape[0] == num_frames
        return tokens if valid else None

    def _store(self, clip_id: str, tokens: torch.Tensor) -> None:
        write_tensors(self._path(clip_id), {"tokens": tokens}, key=clip_id)
