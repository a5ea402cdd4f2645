"""The clip dataset: frames, group label and structural targets of one item.

An item is a clip (T frames) or an image (T = 1). Frames are sampled by the paper's
rules for its dataset (§4.3); the same random crop/flip is applied to every frame and to its
keypoints; structural targets are rendered from the transformed keypoints, so pixels
and targets always agree.

A sample is a dict:

* ``frames``: (T, 3, S, S) uint8 (normalisation belongs to the model's input stats)
* ``label``: int, ``clip_id``: str, ``index``: int (position in the dataset)
* ``frame_indices``: (T,) int64, the source frame each of the T frames was read from (0 for an
  image; a frame folder's position in its sorted files; a video's decoded frame number), the
  numbers annotation keys and per-frame files use
* ``valence``, ``arousal``: float, the clip's targets (``ClipRecord.valence``, MER2023,
  SynthGroups), NaN where it has none
* ``va``: (T, 2) float32 valence/arousal of each sampled frame (``ClipRecord.va_file``,
  AffWild2 layout), NaN where a frame has none
* ``target_mask``: (T,) bool, True where the frame has an annotation
* ``heatmaps``: {modality: (T, L, 56, 56) float32} (heatmap decoder)
* ``queries``: {modality: list of T dicts of limbs/limb_mask/adjacency} (PersonQuery)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vemd.data.manifest import ClipRecord, annotation_key
from vemd.data.media import read_frames
from vemd.data.va import frame_targets
from vemd.errors import DataError
from vemd.structure import AnnotationStore, FrameAnnotation, person_query_targets, render_limb_heatmaps
from vemd.structure.skeleton import skeleton_for
from vemd.structure.transforms import sample_clip_transform

log = logging.getLogger(__name__)


@dataclass
class TargetSpec:
    """Which structural targets to render: decoder kind, modalities, grid and σ."""

    decoder: str = "heatmap"
    modalities: tuple[str, ...] = ()
    size: int = 56
    sigma: float = 2.0


@dataclass
class ClipDataset(Dataset):
    """Frames + label (+ structural targets) of each record.

    Args:
        records: the items of one split.
        root: folder that record paths are relative to.
        class_names: label order.
        frames: T per item; ``sampling``/``interval`` as :func:`vemd.data.media.sample_indices`.
        image_size: output side S.
        augment: random scale-crop + flip, drawn per (seed, epoch, item).
        annotations: structure store; required when ``targets.modalities`` is non-empty.
        skip_bad: an unreadable item yields :class:`Skipped` (left out by the collate) instead of raising.
    """

    records: list[ClipRecord]
    root: Path
    class_names: list[str]
    frames: int = 1
    sampling: str = "uniform"
    interval: float = 1.0
    image_size: int = 224
    augment: bool = False
    scale: tuple[float, float] = (0.8, 1.0)
    flip_prob: float = 0.5
    seed: int = 0
    targets: TargetSpec = field(default_factory=TargetSpec)
    annotations: AnnotationStore | None = None
    skip_bad: bool = False
    epoch: int = 0

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self._label_index = {name: i for i, name in enumerate(self.class_names)}
        if self.targets.modalities and self.annotations is None:
            raise ValueError("structural targets need an annotation store")

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def media_path(self, record: ClipRecord) -> Path:
        path = Path(record.path)
        return path if path.is_absolute() else self.root / path

    def __getitem__(self, index: int) -> dict | Skipped:
        record = self.records[index]
        try:
            return self._load(index, record)
        except DataError as err:
            if not self.skip_bad:
                raise
            return Skipped(str(err))  # reported by the consumer, once per item (see ``usable``)

    def _load(self, index: int, record: ClipRecord) -> dict:
        span = (
            None
            if record.start_frame is None and record.end_frame is None
            else (record.start_frame, record.end_frame)
        )
        images, source_indices = read_frames(
            self.media_path(record), self.frames, sampling=self.sampling, interval=self.interval, span=span
        )
        height, width = images[0].shape[:2]
        rng = np.random.default_rng((self.seed, self.epoch, index)) if self.augment else None
        size = (self.image_size, self.image_size)
        transform = sample_clip_transform(
            width, height, size, rng, scale=self.scale, flip_prob=self.flip_prob
        )
        out_frames, mask = [], []
        heatmaps = {m: [] for m in self.targets.modalities}
        queries = {m: [] for m in self.targets.modalities}
        for image, source_index in zip(images, source_indices):
            annotation = self._annotation(record.clip_id, source_index)
            keypoints = _keypoints(annotation, width, height) if annotation is not None else {}
            image, keypoints = transform(image, keypoints)
            out_frames.append(image)
            mask.append(annotation is not None)
            for modality in self.targets.modalities:
                self._add_targets(modality, keypoints.get(modality), heatmaps[modality], queries[modality])
        sample = {
            "frames": torch.from_numpy(np.stack(out_frames)).permute(0, 3, 1, 2).contiguous(),
            **self.item_fields(index, record, source_indices),
            "target_mask": torch.tensor(mask, dtype=torch.bool),
        }
        if self.targets.modalities and self.targets.decoder == "heatmap":
            sample["heatmaps"] = {m: torch.from_numpy(np.stack(v)) for m, v in heatmaps.items()}
        elif self.targets.modalities:
            sample["queries"] = queries
        return sample

    def item_fields(self, index: int, record: ClipRecord, source_indices: list[int]) -> dict:
        """A sample's fields besides its frames and targets: label, ids, source frame indices,
        the clip's valence/arousal and the per-frame ones."""
        return {
            "label": self._label_index[record.label],
            "clip_id": record.clip_id,
            "index": index,
            "frame_indices": torch.tensor(source_indices, dtype=torch.long),
            "valence": math.nan if record.valence is None else float(record.valence),
            "arousal": math.nan if record.arousal is None else float(record.arousal),
            "va": torch.from_numpy(frame_targets(self._va_path(record), source_indices)),
        }

    def _va_path(self, record: ClipRecord) -> Path | None:
        if record.va_file is None:
            return None
        path = Path(record.va_file)
        return path if path.is_absolute() else self.root / path

    def _annotation(self, clip_id: str, source_index: int) -> FrameAnnotation | None:
        if self.annotations is None:
            return None
        return self.annotations.get(annotation_key(clip_id, source_index))

    def _add_targets(self, modality: str, points: np.ndarray | None, heatmaps: list, queries: list) -> None:
        skeleton = skeleton_for(modality, self.targets.decoder)
        points = np.zeros((0, skeleton.num_joints, 3), np.float32) if points is None else points
        side = self.image_size
        if self.targets.decoder == "heatmap":
            heatmaps.append(
                render_limb_heatmaps(
                    points, skeleton, side, side, size=self.targets.size, sigma=self.targets.sigma
                )
            )
        else:
            target = person_query_targets(points, skeleton, side, side)
            queries.append(
                {k: torch.from_numpy(getattr(target, k)) for k in ("limbs", "limb_mask", "adjacency")}
            )


def source_span(record: ClipRecord, num_frames: int) -> tuple[int, int]:
    """The (first, end) source frames an item spans (end exclusive): its ``start_frame`` /
    ``end_frame`` within the source's ``num_frames``, else the whole source, as its frames are
    sampled from (:func:`vemd.data.media.read_frames`)."""
    first = max(0, record.start_frame or 0)
    end = num_frames if record.end_frame is None else min(record.end_frame, num_frames)
    return first, end


def _keypoints(annotation: FrameAnnotation, width: int, height: int) -> dict[str, np.ndarray]:
    """Keypoints by part, rescaled when the annotation was made on another frame size."""
    scale = np.array([width / annotation.width, height / annotation.height, 1.0], np.float32)
    return {part: annotation.stacked(part) * scale for part in ("body", "face")}


def annotated_clip_ids(store: AnnotationStore) -> set[str]:
    """Clips with at least one frame in which somebody was annotated."""
    return {key.rsplit("/", 1)[0] for key, frame in store.items() if frame.persons}


@dataclass(frozen=True)
class Skipped:
    """What :class:`ClipDataset` gives for a bad item under ``skip_bad``: why it was skipped."""

    message: str


_REPORTED: set[str] = set()  # skip notices already printed by this process


def usable(batch: dict | None) -> dict | None:
    """The batch to train or evaluate on, None when every item was skipped.

    Each skipped item is reported here, in the process that consumes the batches, once per
    process (a `vemd` command): DataLoader workers are recreated every epoch, so a notice printed where the item is
    read would repeat each epoch (and once per worker).
    """
    if batch is None:
        return None
    for message in batch.pop("skipped", ()):
        if message not in _REPORTED:
            _REPORTED.add(message)
            log.warning("skipping %s", message)
    return batch if "frames" in batch else None


def collate(samples: list[dict | Skipped]) -> dict:
    """Stack a list of samples; skipped bad items are left out and listed under ``skipped``
    (a batch of skipped items only holds nothing else: see :func:`usable`)."""
    skipped = [s.message for s in samples if isinstance(s, Skipped)]
    samples = [s for s in samples if not isinstance(s, Skipped)]
    if not samples:
        return {"skipped": skipped}
    batch = {
        "frames": torch.stack([s["frames"] for s in samples]),
        "label": torch.tensor([s["label"] for s in samples]),
        "clip_id": [s["clip_id"] for s in samples],
        "index": torch.tensor([s["index"] for s in samples]),
        "frame_indices": torch.stack([s["frame_indices"] for s in samples]),  # (B, T) source frames
        "valence": torch.tensor([s["valence"] for s in samples], dtype=torch.float32),  # (B,), NaN: none
        "arousal": torch.tensor([s["arousal"] for s in samples], dtype=torch.float32),
        "va": torch.stack([s["va"] for s in samples]),  # (B, T, 2), NaN: none
        "target_mask": torch.stack([s["target_mask"] for s in samples]),
    }
    if "heatmaps" in samples[0]:
        batch["heatmaps"] = {
            m: torch.stack([s["heatmaps"][m] for s in samples]) for m in samples[0]["heatmaps"]
        }
    if "queries" in samples[0]:
        # PersonQuery targets: a flat list over (B, T) frames per modality
        batch["queries"] = {
            m: [frame for s in samples for frame in s["queries"][m]] for m in samples[0]["queries"]
        }
    if skipped:
        batch["skipped"] = skipped
    return batch
