"""``vemd test`` of an ABAW 2024 model, and what it is scored by: each frame's valence/arousal
target (:func:`frame_targets`) and the CCC per dimension (:func:`ccc_scores`, the challenge
score), by the paper's protocol; training selects on the same score of the validation split
(:class:`Selection`).

The reported CCC follows the paper's protocol (ABAW 2024 §4.3; its Table 5 numbers include it,
:func:`protocol_ccc`): per video, the predictions at the sampled source frames are linearly
interpolated to every frame of the video (held before the first and after the last sampled
frame), each of valence and arousal is smoothed with a normalised Hamming window of
``system.abaw24.smoothing_s`` seconds at the video's frame rate (§4.3; 0: none), and the CCC is
computed over every annotated frame of all the videos concatenated, as the challenge scores. A
video is one per-frame annotation file (``va_file``) of one media source: the windows an
AffWild2 video is cut into are put together again; its frames are those its items span
(``start_frame``/``end_frame``, else the whole source). Two kinds of item depart from it, each
counted in ``metrics.json`` (``protocol``) and named in a log line:

* a source without a frame rate (a frame folder, an image): interpolated to every frame, not
  smoothed (a window in seconds has no length in frames there, and none is guessed);
* an item without a per-frame annotation file (clip-level valence/arousal only): scored at its
  sampled frames against its clip values, as training scores it.

``ccc_sampled`` (in ``metrics.json`` and the result) keeps the CCC of the sampled frames alone,
without interpolation or smoothing, for comparison.

A model whose dynamic part scales each video by its own range (``dynamic_scaling:
minmax_video``, §4.2.2) is given the range of all the items of its video (:func:`scaling_videos`):
every item is embedded before any is predicted. A model with the audio model (Table 5 Sys 2-4)
hears every window of the split's audio once (:func:`~vemd.systems.abaw24.audio_data.split_audio_frames`,
voiced or not) and fuses its predictions at the sampled frames before they are brought to every
frame; ``audio`` is then one of the models scored.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from vemd.data.dataset import collate, source_span
from vemd.data.loaders.affwild2 import person_side, video_name
from vemd.data.media import SourceInfo, probe
from vemd.data.va import read_va_file
from vemd.inference.smoothing import frame_series
from vemd.io import atomic_write_text
from vemd.models.regression import ccc
from vemd.systems.abaw24.faces import FaceBoxes, split_dataset
from vemd.systems.abaw24.model import DIMENSIONS
from vemd.systems.base import Artifact, TestOptions

log = logging.getLogger(__name__)


def frame_targets(batch: dict) -> torch.Tensor:
    """(B, T, 2) per-frame targets: the item's ``va``; an item with no per-frame value at all
    (no ``va_file``) takes its clip valence/arousal on every frame. NaN: no target (an
    AffWild2 frame marked -5 stays unlabelled, as the challenge scores annotated frames only)."""
    per_frame = batch["va"].clone()
    clip = torch.stack([batch["valence"], batch["arousal"]], dim=1)[:, None, :].expand_as(per_frame)
    without = torch.isnan(per_frame).flatten(1).all(1)  # (B,) items without per-frame values
    per_frame[without] = clip[without]
    return per_frame


def ccc_scores(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """CCC (Eq. 2) of (N, 2) predictions per dimension over the valid frames, and their mean."""
    values = ccc(
        torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(target, dtype=torch.float64)
    ).tolist()
    out = {f"{d}_ccc": float(v) for d, v in zip(DIMENSIONS, values)}
    out["mean_ccc"] = float(np.nanmean(values)) if not all(math.isnan(v) for v in values) else float("nan")
    return out


def frame_predictions(
    indices: np.ndarray, pred: np.ndarray, frames: int, *, fps: float, seconds: float | None
) -> np.ndarray:
    """ABAW 2024 §4.3: (T, C) predictions at source frame ``indices`` (T,) → (``frames``, C),
    one per frame 0 … frames − 1: linearly interpolated (``np.interp``, held before the first and
    after the last sampled frame; a frame sampled twice takes the mean of its predictions), then
    smoothed with a normalised Hamming window of ``seconds`` at ``fps`` frames per second
    (:func:`vemd.inference.smoothing.frame_series`, which ``vemd predict --smooth`` shares;
    ``seconds`` 0 or None, or ``fps`` ≤ 0: not smoothed)."""
    return frame_series(indices, pred, np.arange(frames), rate=fps, seconds=seconds)


Video = tuple[np.ndarray, np.ndarray, np.ndarray, float]  # indices (T,), pred (T, 2), target (F, 2), fps


def every_frame(videos: Iterable[Video], seconds: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The paper's protocol (ABAW 2024 §4.3, module docstring) up to the CCC: each video
    ``(indices (T,), pred (T, 2), target (F, 2), fps)``, its predictions at source frames
    ``indices`` and its targets on every frame 0 … F − 1 (NaN: not annotated), brought to every
    frame by :func:`frame_predictions`; (predictions, targets) of all of them, (ΣF, 2) each."""
    preds, targets = [], []
    for indices, pred, target, fps in videos:
        preds.append(frame_predictions(indices, pred, len(target), fps=fps, seconds=seconds))
        targets.append(np.asarray(target, dtype=np.float64))
    return np.concatenate(preds), np.concatenate(targets)


def protocol_ccc(videos: Iterable[Video], seconds: float | None) -> dict[str, float]:
    """:func:`ccc_scores` of the paper's protocol: the CCC over the annotated frames of all the
    ``videos`` brought to every frame (:func:`every_frame`)."""
    return ccc_scores(*every_frame(videos, seconds))


class Videos:
    """A split's items put together per video, for :func:`protocol_ccc`: one video per (source,
    ``va_file``); an item without a ``va_file`` stays on its own, at its sampled frames (module
    docstring). Each source is probed and each file read once."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        self.probes: dict[str, SourceInfo] = {}  # an AffWild2 video's windows share one probe
        self.targets: dict[tuple, np.ndarray] = {}  # by video: (F, 2) targets of its frames
        self.keys = [self._key(row) for row in range(len(dataset))]

    @property
    def annotated(self) -> bool:
        """Whether any item has a per-frame annotation file (else all are scored at their samples)."""
        return any(key[0] != "item" for key in self.keys)

    def _key(self, row: int) -> tuple:
        record = self.dataset.records[row]
        if record.va_file is None:
            return ("item", row)
        va = self.dataset.root / record.va_file  # an absolute va_file stays itself
        return (str(self.dataset.media_path(record)), str(va))

    def _info(self, source: str) -> SourceInfo:
        if source not in self.probes:
            self.probes[source] = probe(source)
        return self.probes[source]

    def _target(self, key: tuple, rows: list[int]) -> np.ndarray:
        """(F, 2) targets of a video's frames 0 … F − 1: its file's, NaN outside its items' spans."""
        if key not in self.targets:
            info = self._info(key[0])
            spans = [source_span(self.dataset.records[row], info.num_frames) for row in rows]
            values = read_va_file(key[1])
            target = np.full((max(end for _, end in spans), 2), np.nan)
            for first, end in spans:
                stop = min(end, len(values))
                target[first:stop] = values[first:stop]
            self.targets[key] = target
        return self.targets[key]

    def _videos(self, indices: np.ndarray, pred: np.ndarray, sampled_target: np.ndarray) -> Iterator[Video]:
        rows: dict[tuple, list[int]] = {}
        for row, key in enumerate(self.keys):
            rows.setdefault(key, []).append(row)
        for key, members in rows.items():
            if key[0] == "item":
                yield np.arange(pred.shape[1]), pred[members[0]], sampled_target[members[0]], 0.0
            else:
                at, values = np.concatenate(indices[members]), np.concatenate(pred[members])
                yield at, values, self._target(key, members), self._info(key[0]).fps

    def every_frame(
        self, indices: np.ndarray, pred: np.ndarray, sampled_target: np.ndarray, seconds: float | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`every_frame` of the split's items: the (N, T) source frames each was read at
        (its sample's ``frame_indices``), their (N, T, 2) predictions and targets at those frames
        (:func:`frame_targets`) → (predictions, targets) on every frame of every video."""
        return every_frame(self._videos(indices, pred, sampled_target), seconds)

    def scores(
        self,
        indices: np.ndarray,
        preds: dict[str, np.ndarray],
        sampled_target: np.ndarray,
        seconds: float | None,
    ) -> tuple[dict[str, dict[str, float]], dict]:
        """(:func:`protocol_ccc` of every model's (N, T, 2) predictions, what was scored how:
        frame and video counts)."""
        metrics = {
            name: ccc_scores(*self.every_frame(indices, pred, sampled_target, seconds))
            for name, pred in preds.items()
        }
        videos = {key for key in self.keys if key[0] != "item"}
        _, scored = self.every_frame(indices, np.zeros_like(sampled_target), sampled_target, None)
        facts = {
            "smoothing_s": float(seconds or 0.0),
            "videos": len(videos),
            "videos_without_frame_rate": sum(self._info(key[0]).fps <= 0 for key in videos),  # not smoothed
            "items_at_sampled_frames": len(self.keys) - sum(key[0] != "item" for key in self.keys),
            "labelled_frames": int(np.isfinite(scored).all(axis=1).sum()),
        }
        return metrics, facts


class Selection:
    """What training selects on (the static and dynamic models' best epoch, the KELM's C, the
    Dirichlet fusion's weights): the score ``vemd test`` gives the validation split, the paper's
    protocol (§4.3) where any of its items has a per-frame annotation file, else the CCC of the
    sampled frames (which the protocol then is too).

    Every method takes the split's predictions and targets at its sampled frames, N · T rows of
    2 in any shape, and ``indices`` (N, T): the source frames each item was read at."""

    def __init__(self, dataset, seconds: float | None) -> None:
        self.videos, self.seconds = Videos(dataset), seconds
        self.protocol = self.videos.annotated

    def score(self, pred, target, indices: np.ndarray) -> dict[str, float]:
        """:func:`ccc_scores` of the predictions, as ``vemd test`` scores them."""
        return ccc_scores(*self.every_frame(pred, target, indices))

    def every_frame(self, pred, target, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (predictions, targets) the score is the CCC of, (F, 2) each: every annotated frame
        of the videos (the protocol), else the sampled frames."""
        shape = (*np.shape(indices), 2)
        pred, target = (np.asarray(x, dtype=np.float64).reshape(shape) for x in (pred, target))
        if self.protocol:
            return self.videos.every_frame(np.asarray(indices), pred, target, self.seconds)
        return pred.reshape(-1, 2), target.reshape(-1, 2)

    def facts(self, target, indices: np.ndarray) -> dict:
        """What fit.json records of it: ``score`` ``protocol`` (with the frame and video counts
        ``vemd test`` reports) or ``sampled_frames``."""
        if not self.protocol:
            return {"score": "sampled_frames", "why": "no validation item has a per-frame annotation file"}
        target = np.asarray(target, dtype=np.float64).reshape(*np.shape(indices), 2)
        return {"score": "protocol", **self.videos.scores(np.asarray(indices), {}, target, self.seconds)[1]}


def scaling_videos(dataset) -> list[tuple[str, str | None]]:
    """The video of each item of a dataset, whose range a per-video scaling takes (§4.2.2): its
    media source, and the person of an AffWild2 ``_left`` / ``_right`` annotation (whose faces
    are that person's)."""
    return [
        (str(dataset.media_path(record)), person_side(video_name(record.clip_id)))
        for record in dataset.records
    ]


def batches(dataset, rows: torch.Tensor, size: int):
    """(rows, collated batch) of a ClipDataset's ``rows``, ``size`` at a time."""
    for part in rows.split(size):
        yield part, collate([dataset[int(i)] for i in part])


@torch.no_grad()
def evaluate_abaw24(artifact: Artifact, options: TestOptions) -> dict:
    """CCC per dimension and their mean of every model and the fusion on a split, by the paper's
    protocol (ABAW 2024 §4.3: interpolated to every frame, smoothed, every annotated frame scored;
    module docstring), and ``ccc_sampled``: the same at the sampled frames alone.

    The common options of :class:`~vemd.systems.base.TestOptions` hold
    (:func:`vemd.eval.run.open_split`): ``split`` (default: the recipe's
    ``data.test_split``), ``out_dir`` (default: ``<model folder>/test-<split>``), ``data_cfg``
    (its data section, batch size and workers), ``device`` and ``precision`` (the backbone,
    transformer and audio model under autocast; the KELM and the fusion read their outputs in float64).
    ``group_sizes`` writes nothing here: the group-size table is the accuracy of the clips in each
    bucket of people, and a valence/arousal system predicts no class, so no clip is right or
    wrong (a CCC per bucket of a few clips would say little).

    Writes ``metrics.json``, ``va.md`` (the table) and ``predictions.csv`` (one row per item:
    its mean fused valence/arousal and targets over its sampled frames) into the report folder,
    and adds the protocol's scores to the model card when ``options.record`` asks.
    """
    from vemd.eval.report import write_metrics_json
    from vemd.eval.run import open_split

    run = open_split(artifact, options, group_sizes=False)
    model, cfg, out = run.model, run.cfg, run.out
    # the faces fit found in this model's folder are read, not searched again
    boxes = FaceBoxes(Path(artifact.path).parent / "abaw24" / "faces")
    dataset, _ = split_dataset(cfg, run.split, train=False, boxes=boxes)
    seconds, size = cfg.system.abaw24.smoothing_s, cfg.system.abaw24.dynamic.batch_size
    embedded, targets, indices, ids = [], [], [], []
    for _, batch in batches(dataset, torch.arange(len(dataset)), size):  # first pass: every item
        with run.autocast():
            embedded.append(model.embed(batch["frames"].to(run.device)))
        targets.append(frame_targets(batch).double().numpy())
        indices.append(batch["frame_indices"].numpy())
        ids += batch["clip_id"]
    target, indices = np.concatenate(targets), np.concatenate(indices)
    every = torch.cat(embedded)  # (N, T, D)
    video_range = model.video_range(every, scaling_videos(dataset))
    audio = None
    if cfg.system.abaw24.audio.enabled:  # Table 5 Sys 2-4: every window of the split heard once
        from vemd.systems.abaw24.audio_data import split_audio_frames

        with run.autocast():
            audio = split_audio_frames(model, cfg, dataset, indices, target)  # (N, T, 2)
    preds: dict[str, list[np.ndarray]] = {}
    for rows in torch.arange(len(every)).split(size):  # then each item, its video's range known
        part = None if video_range is None else (video_range[0][rows], video_range[1][rows])
        heard = None if audio is None else audio[rows.numpy()]
        with run.autocast():
            for name, value in model.predictions(every[rows], part, heard).items():
                preds.setdefault(name, []).append(value)
    per_model = {name: np.concatenate(parts) for name, parts in preds.items()}
    sampled = {name: ccc_scores(p.reshape(-1, 2), target.reshape(-1, 2)) for name, p in per_model.items()}
    metrics, protocol = Videos(dataset).scores(indices, per_model, target, seconds)
    if protocol["videos_without_frame_rate"] or protocol["items_at_sampled_frames"]:
        log.warning(
            "abaw24 test: %d of %d video(s) have no frame rate (interpolated, not smoothed); "
            "%d item(s) without a per-frame file scored at their sampled frames",
            protocol["videos_without_frame_rate"],
            protocol["videos"],
            protocol["items_at_sampled_frames"],
        )
    out.mkdir(parents=True, exist_ok=True)
    labelled = protocol["labelled_frames"]
    write_metrics_json(
        out / "metrics.json",
        {"models": metrics, **metrics["fused"], "ccc_sampled": sampled},
        {
            "split": run.split,
            "checkpoint": str(run.checkpoint),
            "system": "abaw24",
            "items": len(ids),
            "labelled_frames": labelled,
            "protocol": protocol,
        },
    )
    rows = ["clip_id,valence,arousal,valence_target,arousal_target"]
    fused = per_model["fused"]
    for i, clip_id in enumerate(ids):
        with warnings.catch_warnings():  # a dimension without any target: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_t = np.nanmean(target[i], axis=0)
        rows.append(",".join([clip_id, *(f"{x:.6f}" for x in (*fused[i].mean(0), *mean_t))]))
    atomic_write_text(out / "predictions.csv", "\n".join(rows) + "\n")
    smoothing = f"{seconds:g}-s Hamming smoothing" if seconds else "no smoothing"
    lines = [
        f"# ABAW 2024 system on split {run.split!r} (frame-wise CCC, {labelled} labelled frames)",
        "",
        f"Predictions interpolated to every frame, {smoothing} at the video's frame rate, CCC over "
        "every annotated frame (ABAW 2024 §4.3); the last column: the mean CCC of the sampled frames alone.",
        "",
        "| model | valence CCC | arousal CCC | mean | mean (sampled frames) |",
        "|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lines.append(
            f"| {name} | {m['valence_ccc']:.4f} | {m['arousal_ccc']:.4f} | {m['mean_ccc']:.4f} "
            f"| {sampled[name]['mean_ccc']:.4f} |"
        )
    atomic_write_text(out / "va.md", "\n".join(lines) + "\n")
    run.add_to_card({f"{n} mean CCC": round(m["mean_ccc"], 4) for n, m in metrics.items()}, keys=None)
    return {"split": run.split, "models": metrics, "ccc_sampled": sampled, "report": str(out)}
