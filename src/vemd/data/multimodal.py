"""The inputs of a multimodal model (paper §7) for one split: frozen video features, audio, text.

:func:`split_inputs` reads a split once: the video features of every clip, computed from its
frames by the caller's :class:`VideoFeatures` (a frozen VE-MD:
:class:`vemd.models.multimodal.FrozenVideo`; this package runs no model) and cached under
``<folder>/video-<split>.safetensors``, keyed by the video model's weights and the data (a
stale or damaged file is recomputed); the audio of every clip (its record's ``audio`` file,
relative to the dataset root, mono 16 kHz: :func:`vemd.data.audio.read_audio`); and its text
embedding, from the caller's text source (:func:`vemd.models.text.text_source`: a file keyed by
clip id, or the records' transcripts embedded by a sentence-transformers model).

A clip's audio is the span its frames cover (:func:`clip_spans`): the whole clip, or the
seconds of an item cut from a longer video (``start_frame``/``end_frame`` at its frame rate),
at most its first ``multimodal.audio.max_seconds`` (``seconds``, else the encoder's window:
:data:`vemd.config.AUDIO_WINDOW_S`). Clips of one split have different lengths (SAMSEMO's and
MER2023's run from 1 to 41 s): ``waveforms`` holds each from its first sample, zero-padded to
the longest, and the span heard (``audio_spans``) keys the frozen encoders' token cache
(:mod:`vemd.data.audio_cache`), so tokens of another span are never reused.

Clips without audio (no ``audio`` in the record, no audio stream, silent or too short) follow
``multimodal.audio.missing``: ``zeros`` keeps them with zeros and ``present`` False (the fusion
leaves their audio out); ``skip`` leaves them out of the split. Either way they are counted and
logged. A damaged audio file is a one-line DataError naming it, or with ``data.skip_bad`` a
clip without audio (logged). Nothing here writes a frame or a sound to disk.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from vemd.config import Config
from vemd.data.audio import SAMPLE_RATE
from vemd.errors import DataError
from vemd.io import read_tensors, write_tensors

log = logging.getLogger(__name__)


class VideoFeatures(Protocol):
    """The video side of :func:`split_inputs` (:class:`vemd.models.multimodal.FrozenVideo`): this
    module reads the frames and keeps the cache file, it computes the features.

    The features it gives have ``index(rows)``, ``to(device)`` and one tensor per name of
    ``fields`` (N first).
    """

    key: str  # identity of the features (the model's weights): part of the cache file's key
    fields: tuple[str, ...]  # names of the feature tensors, as the cache file holds them

    def __call__(self, frames: torch.Tensor) -> Any:
        """uint8 frames (B, T, 3, S, S) on the split's device → their features."""

    def cat(self, parts: list) -> Any:
        """The features of consecutive batches → one."""

    def from_tensors(self, tensors: dict[str, torch.Tensor]) -> Any:
        """The features of the tensors of ``fields`` (as the cache file holds them)."""


@dataclass
class SplitInputs:
    """One split, aligned by row: clip ids, labels and each modality's inputs."""

    clip_ids: list[str]
    labels: torch.Tensor  # (N,)
    video: Any  # the video side's features (vemd.models.multimodal.Features)
    audio_paths: list[Path | None] = field(default_factory=list)
    # each clip's audio over its span (module docstring), zero-padded to the longest: (N, L) float16
    waveforms: torch.Tensor | None = None
    # the span of its file each clip's audio was read over, seconds; None: no audio
    audio_spans: list[tuple[float, float] | None] = field(default_factory=list)
    audio_present: torch.Tensor | None = None  # (N,) bool
    text: torch.Tensor | None = None  # (N, text_dim)
    text_present: torch.Tensor | None = None  # (N,) bool
    counts: dict = field(default_factory=dict)  # what was left out or missing, for logs and reports

    def __len__(self) -> int:
        return len(self.clip_ids)

    def keep(self, rows: torch.Tensor) -> SplitInputs:
        """The split restricted to ``rows`` (a bool mask or indices)."""
        index = rows.nonzero().squeeze(1) if rows.dtype == torch.bool else rows
        pick = index.tolist()

        def sub(x):
            return None if x is None else x[index]

        return SplitInputs(
            [self.clip_ids[i] for i in pick],
            self.labels[index],
            self.video.index(index),
            [self.audio_paths[i] for i in pick] if self.audio_paths else [],
            sub(self.waveforms),
            [self.audio_spans[i] for i in pick] if self.audio_spans else [],
            sub(self.audio_present),
            sub(self.text),
            sub(self.text_present),
            dict(self.counts),
        )


def video_data_config(video_cfg: Config, cfg: Config) -> Config:
    """The video model's config reading ``cfg``'s data, batch size and workers (no augmentation)."""
    out = copy.deepcopy(video_cfg)
    out.data = copy.deepcopy(cfg.data)
    out.data.augment = False
    out.train.batch_size, out.train.num_workers = cfg.train.batch_size, cfg.train.num_workers
    return out


def split_inputs(
    cfg: Config,
    split: str,
    video: VideoFeatures,
    video_cfg: Config,
    *,
    folder: Path | None,
    device: str | torch.device = "cpu",
    text_source=None,
) -> SplitInputs:
    """Everything a multimodal model reads of ``split`` (module docstring): ``video`` computes the
    video features of the frames ``video_cfg`` reads, ``folder`` caches them (None: not cached);
    ``text_source`` (:func:`vemd.models.text.text_source`) has ``embed(clip_ids, transcripts)``,
    giving (N, D) embeddings and their (N,) has-text mask."""
    from vemd.data.build import build_dataset

    vcfg = video_data_config(video_cfg, cfg)
    dataset, index = build_dataset(vcfg, split, train=False, stage="1")  # no annotation needed
    clip_ids = [r.clip_id for r in dataset.records]
    features, labels = _video(vcfg, dataset, video, folder, split, torch.device(device))
    inputs = SplitInputs(clip_ids, labels, features)
    mm = cfg.multimodal
    if mm.audio.encoder != "none":
        _add_audio(inputs, cfg, dataset, index.root)
    if mm.text.enabled:
        _add_text(inputs, cfg, dataset.records, text_source)
    if mm.audio.encoder != "none" and mm.audio.missing == "skip":
        kept = inputs.audio_present
        if not kept.all():
            log.info(
                "%s: %d clips without audio left out (multimodal.audio.missing=skip)",
                split,
                int((~kept).sum()),
            )
            counts = inputs.counts
            inputs = inputs.keep(kept)
            inputs.counts = {**counts, "skipped_without_audio": int((~kept).sum())}
    return inputs


# --------------------------------------------------------------------------------------- video


def _video_key(video: VideoFeatures, vcfg: Config, split: str) -> str:
    setting = {
        "weights": video.key,
        "root": str(Path(vcfg.data.root).resolve()),
        "name": vcfg.data.name,
        "split": split,
        "frames": vcfg.data.frames,
        "sampling": vcfg.data.sampling,
        "interval": vcfg.data.frame_interval,
        "size": vcfg.model.image_size,
    }
    return hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()


@torch.no_grad()
def _video(vcfg, dataset, video: VideoFeatures, folder, split, device) -> tuple[Any, torch.Tensor]:
    from vemd.data.build import eval_loader
    from vemd.data.dataset import usable

    key = _video_key(video, vcfg, split)
    path = None if folder is None else Path(folder) / f"video-{split}.safetensors"
    if path is not None and (cached := _read_features(path, key, len(dataset), video)) is not None:
        return cached
    parts, labels, rows = [], [], []
    for batch in eval_loader(vcfg, dataset):
        batch = usable(batch)
        if batch is None:
            continue
        parts.append(video(batch["frames"].to(device)).to(torch.device("cpu")))
        labels.append(batch["label"])
        rows.append(batch["index"])
    if len(torch.cat(rows)) != len(dataset):
        raise DataError(
            f"{split}: {len(dataset) - len(torch.cat(rows))} clips could not be read; the multimodal "
            "branches need every clip's video (fix or remove them)"
        )
    features, labels = video.cat(parts), torch.cat(labels)
    if path is not None:
        tensors = {f: getattr(features, f).contiguous() for f in video.fields} | {"labels": labels}
        write_tensors(path, tensors, key=key)
    return features, labels


def _read_features(path: Path, key: str, n: int, video: VideoFeatures) -> tuple[Any, torch.Tensor] | None:
    tensors = read_tensors(path, key=key)  # None: absent, damaged, foreign or another key's
    if tensors is None or any(name not in tensors for name in (*video.fields, "labels")):
        return None
    if len(tensors["labels"]) != n:
        return None
    return video.from_tensors(tensors), tensors["labels"]


# --------------------------------------------------------------------------------------- audio

Span = tuple[float, float | None]  # [start, end) seconds of a clip's audio; end None: to its end


def clip_spans(dataset) -> list[Span]:
    """The span of audio each record's frames cover (a ClipDataset's records): the whole clip,
    ``(0, None)``; an item cut from a longer source (``start_frame``/``end_frame``, an AffWild2
    window), its frames' span at the video's frame rate, the same seconds of its audio file. A
    source without a frame rate (a frame folder) has no time to place its frames at: its whole
    audio. Each source is probed once (a video's windows share it)."""
    from vemd.data.media import probe

    probes, spans = {}, []
    for record in dataset.records:
        if record.start_frame is None and record.end_frame is None:
            spans.append((0.0, None))
            continue
        path = dataset.media_path(record)
        if path not in probes:
            probes[path] = probe(path)
        info = probes[path]
        if info.fps <= 0:
            spans.append((0.0, None))
            continue
        first = max(0, record.start_frame or 0)
        end = info.num_frames if record.end_frame is None else min(record.end_frame, info.num_frames)
        spans.append((first / info.fps, end / info.fps))
    return spans


class _AudioReads(torch.utils.data.Dataset):
    """Each clip's audio over its span, at most ``cap`` seconds of it (its first ``cap`` seconds)."""

    def __init__(self, paths: list[Path | None], spans: list[Span], cap: float, skip_bad: bool) -> None:
        self.paths, self.spans, self.cap, self.skip_bad = paths, spans, cap, skip_bad

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        """(samples (L,) float16, has audio, why not ("": it has), a skipped file's problem, the
        span heard in seconds (None without audio: nothing to cache))."""
        from vemd.data.audio import TOO_SHORT, read_audio

        path, (start, end) = self.paths[i], self.spans[i]
        empty = torch.zeros(0, dtype=torch.float16)
        if path is None:
            return empty, False, "no audio file", "", None
        if end is not None:
            end = min(end, start + self.cap)
            if end <= start:
                return empty, False, TOO_SHORT, "", None
        try:  # end None: to the end of the audio, cut to the cap below
            clip = read_audio(path, start=start, end=end, missing="zeros")
        except DataError as err:
            if not self.skip_bad:
                raise
            return empty, False, "unreadable", str(err), None
        if not clip.present:
            return empty, False, "no usable audio", "", None
        samples = torch.from_numpy(clip.samples[: round(self.cap * SAMPLE_RATE)]).to(torch.float16)
        return samples, True, "", "", (start, start + len(samples) / SAMPLE_RATE)


def audio_path(record, root: Path) -> Path | None:
    if not record.audio:
        return None
    path = Path(record.audio)
    return path if path.is_absolute() else Path(root) / path


@dataclass
class ClipAudio:
    """What :func:`read_clips` read: each clip's samples (L_i,) float16 at 16 kHz (empty without
    audio), whether it has audio, the span heard ([start, end) seconds; None without audio) and
    the counts of clips without audio by reason."""

    samples: list[torch.Tensor]
    present: torch.Tensor  # (N,) bool
    spans: list[tuple[float, float] | None]
    counts: dict

    def padded(self, length: int | None = None) -> torch.Tensor:
        """(N, length) float16, each clip's samples then zeros (default: the longest clip's length)."""
        length = max([1] + [len(s) for s in self.samples]) if length is None else length
        out = torch.zeros(len(self.samples), length, dtype=torch.float16)
        for row, samples in enumerate(self.samples):
            out[row, : len(samples)] = samples[:length]
        return out


def read_clips(
    paths: list[Path | None], spans: list[Span], cap: float, *, workers: int = 0, skip_bad: bool = False
) -> ClipAudio:
    """Each clip's audio over its span, at most its first ``cap`` seconds, mono 16 kHz
    (:func:`vemd.data.audio.read_audio`); a damaged file is a DataError naming it, or with
    ``skip_bad`` a clip without audio (logged)."""
    reads = _AudioReads(paths, spans, cap, skip_bad)
    loader = torch.utils.data.DataLoader(reads, batch_size=64, num_workers=workers, collate_fn=list)
    out = ClipAudio([], torch.zeros(0, dtype=torch.bool), [], {})
    present = []
    for batch in loader:
        for samples, has, case, problem, heard in batch:
            out.samples.append(samples)
            present.append(bool(has))
            out.spans.append(heard)
            if case:
                out.counts[case] = out.counts.get(case, 0) + 1
            if problem:
                log.warning("skipping the audio of %s", problem)
    out.present = torch.tensor(present, dtype=torch.bool)
    return out


def read_waveforms(
    paths: list[Path | None], seconds: float, *, workers: int = 0, skip_bad: bool = False
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The first ``seconds`` of each file: (N, L) float16 waveforms, zero-padded to ``seconds``
    (zeros without audio), (N,) has-audio mask and the counts of clips without audio."""
    clips = read_clips(paths, [(0.0, seconds)] * len(paths), seconds, workers=workers, skip_bad=skip_bad)
    return clips.padded(round(seconds * SAMPLE_RATE)), clips.present, clips.counts


def _add_audio(inputs: SplitInputs, cfg: Config, dataset, root: Path) -> None:
    paths = [audio_path(r, root) for r in dataset.records]
    a = cfg.multimodal.audio
    clips = read_clips(
        paths, clip_spans(dataset), a.max_seconds, workers=cfg.train.num_workers, skip_bad=cfg.data.skip_bad
    )
    inputs.audio_paths, inputs.audio_spans = paths, clips.spans
    inputs.waveforms, inputs.audio_present = clips.padded(), clips.present
    inputs.counts = {**inputs.counts, **{f"audio: {k}": v for k, v in clips.counts.items()}}
    missing = int((~clips.present).sum())
    if missing:
        log.info(
            "%d of %d clips have no usable audio (%s): %s",
            missing,
            len(paths),
            ", ".join(f"{k} {v}" for k, v in sorted(clips.counts.items())),
            "kept with zeros and a mask" if a.missing == "zeros" else "left out",
        )


# ---------------------------------------------------------------------------------------- text


def _add_text(inputs: SplitInputs, cfg: Config, records, source) -> None:
    inputs.text, present = source.embed(inputs.clip_ids, [r.text or "" for r in records])
    inputs.text_present = present
    missing = int((~present).sum())
    if missing:
        inputs.counts = {**inputs.counts, "text: missing": missing}
        log.info("%d of %d clips have no text: kept with a mask", missing, len(records))
