"""The text branch (paper §7.2): per-clip sentence embeddings, projected to 1024 for alignment.

The paper embeds each clip's transcript with an LLM (Mixtral-8x7B or Llama-2-7B, 4096-d) and
projects it to 1024 beside the audio and video embeddings. vemd does not run an LLM: the
embeddings come from a user file (:class:`TextEmbeddings`), made by any model, or from a local
sentence-transformers model (:func:`encode_transcripts`, then :func:`write_text_embeddings`);
:func:`text_source` is the one ``multimodal.text`` names, which
:func:`vemd.data.multimodal.split_inputs` asks for the embeddings of a split's clips.

Files: ``.npy`` (N, D) with an index of the N clip ids (``<stem>.txt``, one per line, or
``<stem>.json``, a list), or ``.safetensors`` holding a tensor ``embeddings`` (N, D) and the
clip-id list as JSON in its metadata key ``clip_ids``. Neither format can hold code: the npy is
read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vemd.config import Config
from vemd.errors import DataError, VemdError
from vemd.io import atomic_write
from vemd.models.emotion_decoder import mlp_head

EMBED_DIM = 1024  # §7.2: text embeddings are projected to 1024


class TextEmbeddings:
    """Clip id → embedding (D,), read from a user file (see the module docstring).

    Args:
        clip_ids: the N clip ids, unique.
        embeddings: (N, D) finite floats, row i for ``clip_ids[i]``.
        source: the file they came from, named in errors.
    """

    def __init__(self, clip_ids: Sequence[str], embeddings: np.ndarray, source: str | Path) -> None:
        self.source = Path(source)
        if embeddings.ndim != 2 or not np.issubdtype(embeddings.dtype, np.number):
            raise DataError(
                f"{source}: embeddings must be a numeric (N, D) array, got {embeddings.dtype} "
                f"{tuple(embeddings.shape)}"
            )
        if len(clip_ids) != len(embeddings):
            raise DataError(f"{source}: {len(clip_ids)} clip ids for {len(embeddings)} embeddings")
        if not np.isfinite(embeddings).all():
            raise DataError(f"{source}: embeddings hold NaN or infinite values")
        self.rows = {}
        for row, clip_id in enumerate(clip_ids):
            if not isinstance(clip_id, str):
                raise DataError(f"{source}: clip id {clip_id!r} is not text")
            if clip_id in self.rows:
                raise DataError(f"{source}: clip id {clip_id!r} is repeated")
            self.rows[clip_id] = row
        self.embeddings = torch.from_numpy(embeddings.astype(np.float32))

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self.rows

    @classmethod
    def load(cls, path: str | Path, index: str | Path | None = None) -> TextEmbeddings:
        """Read ``.safetensors``, or ``.npy`` with its ``index`` (default ``<stem>.txt`` or ``<stem>.json``)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such text embeddings file")
        if path.suffix == ".safetensors":
            return cls(*_read_safetensors(path), path)
        if path.suffix != ".npy":
            raise DataError(f"{path}: text embeddings must be a .npy (with an index) or a .safetensors file")
        try:
            embeddings = np.load(path, allow_pickle=False)
        except Exception as err:  # numpy raises several types for damaged or pickled files
            raise DataError(f"{path}: not a readable .npy array ({type(err).__name__})") from err
        return cls(_read_index(path, index), embeddings, path)

    def get(
        self, clip_ids: Sequence[str], *, allow_missing: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings (B, D) of ``clip_ids`` and their has-text mask (B,); a clip id not in the file
        is a DataError, or with ``allow_missing`` a zero row with mask False."""
        rows = [self.rows.get(clip_id, -1) for clip_id in clip_ids]
        if not allow_missing and -1 in rows:
            missing = [c for c, r in zip(clip_ids, rows) if r < 0]
            raise DataError(
                f"{self.source}: no text embedding for clip {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        index = torch.tensor(rows, dtype=torch.long)
        present = index >= 0
        embeddings = self.embeddings[index.clamp(min=0)] * present[:, None]  # (B, D)
        return embeddings, present

    def embed(self, clip_ids: Sequence[str], texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """As a text source (:func:`text_source`): the embeddings of ``clip_ids`` and their has-text
        mask, a clip not in the file having none (its transcript is not read)."""
        return self.get(clip_ids, allow_missing=True)


def _read_index(path: Path, index: str | Path | None) -> list[str]:
    """The clip ids of ``path``'s rows: a .txt file (one per line) or a .json list."""
    if index is None:
        found = [p for p in (path.with_suffix(".txt"), path.with_suffix(".json")) if p.is_file()]
        if not found:
            raise DataError(f"{path}: no index of clip ids beside it ({path.stem}.txt or {path.stem}.json)")
        index = found[0]
    index = Path(index)
    try:
        text = index.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{index}: cannot read clip-id index ({err})") from err
    if index.suffix != ".json":
        return [line.strip() for line in text.splitlines() if line.strip()]
    try:
        clip_ids = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{index}: not valid JSON (line {err.lineno}: {err.msg})") from err
    if not isinstance(clip_ids, list):
        raise DataError(f"{index}: must be a JSON list of clip ids")
    return clip_ids


def _read_safetensors(path: Path) -> tuple[list[str], np.ndarray]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
            if "embeddings" not in list(handle.keys()):
                raise DataError(f"{path}: no tensor named 'embeddings'")
            embeddings = handle.get_tensor("embeddings")
    except DataError:
        raise
    except Exception as err:  # safetensors raises several types for damaged or foreign files
        raise DataError(f"{path}: not a readable .safetensors file ({type(err).__name__})") from err
    try:
        clip_ids = json.loads(metadata["clip_ids"])
    except (KeyError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: no JSON clip-id list in the metadata key 'clip_ids'") from err
    if not isinstance(clip_ids, list):
        raise DataError(f"{path}: metadata 'clip_ids' must be a JSON list")
    return clip_ids, embeddings


def write_text_embeddings(path: str | Path, clip_ids: Sequence[str], embeddings: np.ndarray) -> None:
    """Write (N, D) ``embeddings`` of ``clip_ids`` as a ``.safetensors`` file :class:`TextEmbeddings` reads."""
    from safetensors.numpy import save

    TextEmbeddings(clip_ids, embeddings, path)  # the same checks as on reading
    data = save(
        {"embeddings": np.ascontiguousarray(embeddings)}, metadata={"clip_ids": json.dumps(list(clip_ids))}
    )
    atomic_write(path, lambda handle: handle.write(data))


def encode_transcripts(texts: Sequence[str], model_path: str | Path, *, batch_size: int = 32) -> np.ndarray:
    """(N,) transcripts → (N, D) float32 embeddings with the sentence-transformers model in the
    local folder ``model_path`` (nothing is downloaded)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise VemdError(
            "encoding transcripts needs sentence-transformers, which vemd does not install: "
            "pip install sentence-transformers (or give precomputed embeddings)"
        ) from err
    path = Path(model_path)
    if not path.is_dir():
        raise VemdError(f"{path}: no such sentence-transformers model folder")
    try:
        model = SentenceTransformer(str(path), local_files_only=True)
    except (OSError, ValueError) as err:
        raise VemdError(f"{path}: not a readable sentence-transformers model ({err})") from err
    return np.asarray(
        model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True), dtype=np.float32
    )


class TextBranch(nn.Module):
    """(B, text_dim) embeddings and (B,) has-text mask → (logits (B, num_classes) or None, (B, embed_dim)).

    A clip without text (mask False) gets the learned ``missing`` embedding (zeros at start),
    whatever its input row holds, so its logits are a learned prior and outputs stay finite.

    Args:
        text_dim: width of the input embeddings (4096 for the paper's Mixtral and Llama-2).
        embed_dim: width of the projected embedding (1024 in the paper).
        num_classes: classes of an MLP classifier on it, or None for the projection alone (fusion).
        mlp_hidden, dropout: that classifier (LayerNorm → linear → ReLU → dropout → linear).
    """

    def __init__(
        self,
        *,
        text_dim: int,
        embed_dim: int = EMBED_DIM,
        num_classes: int | None = None,
        mlp_hidden: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.proj = nn.Linear(text_dim, embed_dim)
        self.missing = nn.Parameter(torch.zeros(embed_dim))
        self.classifier = (
            None if num_classes is None else mlp_head(embed_dim, mlp_hidden, num_classes, dropout)
        )

    def forward(
        self, embeddings: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(B, text_dim), (B,) bool → logits (B, num_classes) or None, embedding (B, embed_dim)."""
        if mask is None:
            mask = torch.ones(embeddings.shape[0], dtype=torch.bool, device=embeddings.device)
        present = mask.to(embeddings.device).bool()[:, None]  # (B, 1)
        clean = torch.where(present, embeddings, torch.zeros_like(embeddings))  # a NaN placeholder stays out
        embedding = torch.where(present, self.proj(clean), self.missing)  # (B, embed_dim)
        logits = None if self.classifier is None else self.classifier(embedding)
        return logits, embedding


class TranscriptEncoder:
    """The local sentence-transformers model in ``model_path`` as a text source (:func:`text_source`):
    it embeds the clips' transcripts (:func:`encode_transcripts`); an empty one is a clip without text."""

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = str(model_path)

    @cached_property
    def dim(self) -> int:
        return int(encode_transcripts(["dimension probe"], self.model_path).shape[1])

    def embed(self, clip_ids: Sequence[str], texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, D) embeddings of the N ``texts`` and their (N,) has-text mask."""
        present = torch.tensor([bool(t.strip()) for t in texts], dtype=torch.bool)
        return torch.from_numpy(encode_transcripts(list(texts), self.model_path)).float(), present


def text_source(cfg: Config) -> TextEmbeddings | TranscriptEncoder:
    """The text embeddings of ``multimodal.text``: its embeddings file (loaded), else its
    sentence-transformers model. Either has ``dim`` and ``embed(clip_ids, transcripts)``."""
    t = cfg.multimodal.text
    if t.embeddings is not None:
        return TextEmbeddings.load(t.embeddings, t.index)
    return TranscriptEncoder(t.model)
