"""On-disk cache of the frozen audio encoders' tokens (paper §7.1.1), so each clip's audio is encoded once.

What is kept is each clip's token sequence (S, D), not a pooled vector: the two-encoder branch's
trainable cross-attention (Att_AC, Att_CA) attends over the tokens, which a pooled vector would
lose; the one-encoder branch pools them on read, which is cheap. Only the valid tokens are
stored (Whisper pads every clip to its 30 s window: a 5 s clip keeps 250 of 1500 tokens), in
float16: about 77 kB per second of audio for wav2vec2-base (768-d, 50 tokens/s), 100 kB for
Whisper medium (1024-d).

An entry is keyed by the encoder (:attr:`vemd.models.audio.pretrained.AudioEncoder.encoder_id`:
kind, name, config and a digest of its weights), the audio file (resolved path, size, mtime),
the span (start, end seconds) and the sample rate: changing any of them computes a new entry.
Entries live under ``<folder>/<encoder>/<aa>/<hash>.safetensors``, are written atomically (a
killed run leaves no partial entry) and read with safetensors, which holds tensors only and
never unpickles anything. An entry that is damaged, foreign, of the wrong width or written for
another key (its metadata holds the key) is recomputed and rewritten.

Use, one cache per encoder::

    cache = AudioFeatureCache(root, branch.encoders["acoustic"].encoder_id, dim=768)
    tokens = {"acoustic": cache.get(keys, waveforms, branch.encoders["acoustic"], lengths), ...}
    logits, embedding = branch(mask=has_audio, tokens=tokens)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vemd.errors import DataError
from vemd.io import read_tensors, write_tensors

# compute(waveforms (M, N), lengths (M,) or None) → tokens (M, S, D), validity (M, S)
Compute = Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


def _seconds(time: float | None) -> float | None:
    return None if time is None else float(time)  # 1 and 1.0 are one span


@dataclass(frozen=True)
class AudioKey:
    """What one clip's tokens depend on, besides the encoder: the file as it is now and the span."""

    path: str
    size: int
    mtime_ns: int
    start: float | None
    end: float | None
    sample_rate: int

    @classmethod
    def of(
        cls,
        path: str | Path,
        *,
        start: float | None = None,
        end: float | None = None,
        sample_rate: int = 16_000,
    ) -> AudioKey:
        """The key of ``path`` (stat-ed now) between ``start`` and ``end`` seconds (None: its ends)."""
        path = Path(path)
        try:
            stat = path.stat()
        except OSError as err:
            raise DataError(f"{path}: cannot read audio file ({err.strerror})") from err
        return cls(
            str(path.resolve()), stat.st_size, stat.st_mtime_ns, _seconds(start), _seconds(end), sample_rate
        )


class AudioFeatureCache:
    """Maps (encoder, audio key) → (S, dim) tokens.

    Args:
        folder: cache root (shared by encoders: each has its own subfolder).
        encoder_id: identity of the encoder whose tokens are cached.
        dim: width of its tokens (an entry of another width is not valid).
    """

    def __init__(self, folder: str | Path, encoder_id: str, *, dim: int) -> None:
        self.encoder_id = encoder_id
        self.dim = dim
        self.folder = Path(folder) / hashlib.sha256(encoder_id.encode()).hexdigest()[:16]
        self.hits = self.misses = 0

    def _identity(self, key: AudioKey) -> str:
        return json.dumps({"encoder": self.encoder_id, **asdict(key)}, sort_keys=True)

    def _path(self, identity: str) -> Path:
        name = hashlib.sha256(identity.encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.safetensors"

    def get(
        self,
        keys: Sequence[AudioKey | None],
        waveforms: torch.Tensor,
        compute: Compute,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, S, dim) float32 and validity (B, S) of a batch of (B, N) waveforms with (B,)
        valid ``lengths``; ``compute`` encodes the misses. A None key is a clip without audio: zero
        tokens, none valid, never computed."""
        cached = [None if key is None else self._load(key) for key in keys]
        missing = [
            i for i, (key, tokens) in enumerate(zip(keys, cached)) if key is not None and tokens is None
        ]
        if missing:
            index = torch.tensor(missing, device=waveforms.device)
            sub_lengths = None if lengths is None else lengths[index.to(lengths.device)]
            with torch.no_grad():
                tokens, valid = compute(waveforms[index], sub_lengths)  # (M, S, dim), (M, S)
            tokens, valid = tokens.detach().to(torch.float16).cpu(), valid.cpu()  # as stored
            for row, i in enumerate(missing):
                entry = tokens[row][valid[row]]  # (S_i, dim): the valid tokens, in order
                self._store(keys[i], entry)
                cached[i] = entry
        self.hits += sum(key is not None for key in keys) - len(missing)
        self.misses += len(missing)
        return self._padded([torch.zeros(0, self.dim) if t is None else t for t in cached], waveforms.device)

    def _padded(self, entries: list[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        length = max([1] + [len(t) for t in entries])
        tokens = torch.zeros(len(entries), length, self.dim)  # (B, S, dim)
        valid = torch.zeros(len(entries), length, dtype=torch.bool)  # (B, S)
        for i, entry in enumerate(entries):
            tokens[i, : len(entry)] = entry.float()
            valid[i, : len(entry)] = True
        return tokens.to(device), valid.to(device)

    def _load(self, key: AudioKey) -> torch.Tensor | None:
        """The (S, dim) tokens of ``key``; None when absent or not a valid entry for it."""
        identity = self._identity(key)
        entry = read_tensors(self._path(identity), key=identity)
        tokens = None if entry is None else entry.get("tokens")
        valid = isinstance(tokens, torch.Tensor) and tokens.dim() == 2 and tokens.shape[1] == self.dim
        return tokens if valid else None

    def _store(self, key: AudioKey, tokens: torch.Tensor) -> None:
        identity = self._identity(key)
        write_tensors(self._path(identity), {"tokens": tokens}, key=identity)
