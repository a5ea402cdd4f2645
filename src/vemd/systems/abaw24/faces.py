"""Faces, not frames: what the ABAW 2024 static model sees of each sampled frame (its §4.2.2).

"For the static models, we first detect faces and crop them, adding 15 pixels to all bounding
box boundaries to include the chin" (§4.2.2). ``system.abaw24.faces`` says where the faces come
from:

* ``detect``: vemd's offline face detector (:class:`vemd.annotate.backends.offline_faces.
  OfflineFaceDetector`: dlib's HOG detector, yuface for the faces it misses; the paper used
  RetinaFace-MobileNet-0.25, whose weights are not shipped in a registry package) on each
  sampled frame, the box grown by ``face_margin`` pixels on every side (clipped to the frame).
  Of several faces, the largest; for AffWild2's ``<video>_left`` / ``<video>_right``
  annotations, the leftmost / rightmost one (the person the file annotates). The boxes are
  kept per source frame, in memory and in ``cache`` (safetensors entries keyed by the file's
  path, size and modification time), so a frame is searched once per run folder;
* ``cropped_aligned``: AffWild2's own face crops (:func:`vemd.data.loaders.affwild2.
  face_crop_file`), as distributed, without a margin (they are already framed);
* ``none``: the whole frame, as before faces were read.

A frame without a face (none detected, no crop file) takes the face of the nearest sampled frame
of its item that has one, the earlier first (the person has not moved far in a fraction of a
second); an item none of whose frames has one is read as whole frames. The paper does not say
what it did with such frames. Each face is then resized to the model's square input and
augmented as :class:`vemd.data.dataset.ClipDataset` augments frames (one draw per item).

``vemd predict`` gives a model of faces what training gave it (:class:`FaceView`): each sampled
frame's face found by the same detector, chosen and cropped with the same margin, a frame
without one taking its window's nearest face box, a window without any read as whole frames,
then resized. The faces stay in memory; nothing of them is written or returned. A video has no
AffWild2 ``cropped_aligned`` crops: a model trained on them is given faces found by the
offline detector with ``face_margin`` (one log line says so).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from vemd.config import Config
from vemd.data.dataset import ClipDataset, source_span
from vemd.data.loaders.affwild2 import face_crop_file, person_side, video_name
from vemd.data.manifest import ClipRecord
from vemd.data.media import SourceInfo, clip_indices, probe, read_frames, read_image, sample_indices
from vemd.errors import VemdError
from vemd.io import read_tensors, write_tensors
from vemd.structure.transforms import ClipTransform, sample_clip_transform
from vemd.systems.base import FrameView
from vemd.systems.common import split_data

log = logging.getLogger(__name__)

Box = np.ndarray  # (4,) x0, y0, x1, y1 in pixels of the frame
Detect = Callable[[np.ndarray], np.ndarray]  # RGB uint8 (H, W, 3) → (N, 4) face boxes
DETECTOR_ID = "offline-dlib-yuface"  # the detector the cached boxes were found by


def crop_box(box: Box, width: int, height: int, margin: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` pixels on every side, in whole pixels inside a ``width`` ×
    ``height`` frame: (x0, y0, x1, y1), never empty."""
    x0, y0 = (max(0, math.floor(v - margin)) for v in box[:2])
    x1 = min(width, max(x0 + 1, math.ceil(box[2] + margin)))
    y1 = min(height, max(y0 + 1, math.ceil(box[3] + margin)))
    return x0, y0, x1, y1


def crop(image: np.ndarray, box: Box, margin: int) -> np.ndarray:
    """The part of an (H, W, 3) image inside ``box`` grown by ``margin`` (:func:`crop_box`)."""
    x0, y0, x1, y1 = crop_box(box, image.shape[1], image.shape[0], margin)
    return image[y0:y1, x0:x1]


def pick_face(boxes: np.ndarray, side: str | None = None) -> Box | None:
    """The face of a frame's (N, 4) boxes: the largest, or the leftmost / rightmost centre for
    ``side`` ``left`` / ``right``; None without any."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not len(boxes):
        return None
    if side is not None:
        centres = boxes[:, 0] + boxes[:, 2]
        return boxes[int(np.argmin(centres) if side == "left" else np.argmax(centres))]
    return boxes[int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))]


def fill_missing(values: list) -> list:
    """Each None takes the nearest value that is not, the earlier first; all None stay None."""
    known = [i for i, v in enumerate(values) if v is not None]
    if not known:
        return list(values)
    out = []
    for i, value in enumerate(values):
        if value is None:
            earlier = [k for k in known if k < i]
            value = values[earlier[-1] if earlier else next(k for k in known if k > i)]
        out.append(value)
    return out


def offline_detector() -> Detect:
    """The face boxes of vemd's offline annotator (one-line VemdError when it is not installed)."""
    missing = [m for m in ("dlib", "yuface") if importlib.util.find_spec(m) is None]
    if missing:
        raise VemdError(
            f"system.abaw24.faces=detect needs {', '.join(missing)}: pip install 'vemd[annotate]'"
        )
    from vemd.annotate.backends.offline_faces import OfflineFaceDetector

    detector = OfflineFaceDetector()
    return lambda image: np.array([face.box for face in detector(image)], np.float32).reshape(-1, 4)


class FaceBoxes:
    """The chosen face box of each (source, person side, frame), found once: in memory, and in
    ``folder`` (one safetensors entry per source and side, rewritten as frames are added).

    Args:
        folder: where the entries live (None: memory only).
        detect: the detector (default: :func:`offline_detector`, built at the first search).
    """

    def __init__(self, folder: str | Path | None = None, detect: Detect | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._detect = detect
        self.known: dict[str, dict[int, Box | None]] = {}  # by entry key: frame → box or None

    def of(self, source: Path, side: str | None, frames: list[int], images: list[np.ndarray]) -> list:
        """The face (or None) of each of ``frames`` of ``source``, ``images`` their pixels."""
        key = self._key(source, side)
        boxes = self._entry(key)
        new = {f: image for f, image in zip(frames, images) if f not in boxes}
        if new:
            if self._detect is None:
                self._detect = offline_detector()
            for frame, image in new.items():
                boxes[frame] = pick_face(self._detect(image), side)
            self._store(key, boxes)
        return [boxes[f] for f in frames]

    @staticmethod
    def _key(source: Path, side: str | None) -> str:
        stat = source.stat()
        return f"{DETECTOR_ID}|{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{side}"

    def _path(self, key: str) -> Path:
        name = hashlib.sha1(key.encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.safetensors"

    def _entry(self, key: str) -> dict[int, Box | None]:
        if key not in self.known:
            entry = read_tensors(self._path(key), key=key) if self.folder is not None else None
            boxes: dict[int, Box | None] = {}
            if entry is not None and {"frames", "boxes"} <= set(entry):
                for frame, box in zip(entry["frames"].tolist(), entry["boxes"].numpy()):
                    boxes[int(frame)] = None if np.isnan(box).any() else box.astype(np.float64)
            self.known[key] = boxes
        return self.known[key]

    def _store(self, key: str, boxes: dict[int, Box | None]) -> None:
        if self.folder is None:
            return
        frames = sorted(boxes)
        rows = [np.full(4, np.nan) if boxes[f] is None else boxes[f] for f in frames]
        tensors = {
            "frames": torch.tensor(frames, dtype=torch.int64),
            "boxes": torch.from_numpy(np.asarray(rows, dtype=np.float64).reshape(-1, 4)),
        }
        write_tensors(self._path(key), tensors, key=key)


def sampled_frames(dataset: ClipDataset, record: ClipRecord, info: SourceInfo) -> list[int]:
    """The source frame indices a ClipDataset reads ``record`` at (those of
    :func:`vemd.data.media.read_frames`), found from the source's probe ``info`` without
    decoding a frame."""
    if info.kind == "image":
        return [0] * dataset.frames
    how = {"sampling": dataset.sampling, "interval": dataset.interval}
    if record.start_frame is None and record.end_frame is None:
        return clip_indices(info, dataset.frames, **how)
    first, end = source_span(record, info.num_frames)
    return [first + i for i in sample_indices(end - first, dataset.frames, fps=info.fps, **how)]


@dataclass
class FaceClipDataset(ClipDataset):
    """A :class:`~vemd.data.dataset.ClipDataset` whose frames are each sampled frame's face
    (module docstring); the rest of a sample (ids, labels, valence/arousal) comes from
    ClipDataset's :meth:`item_fields` (ClipDataset reads and resizes whole frames in one step,
    with no place for a crop between them).

    Args (besides ClipDataset's):
        faces: ``detect`` or ``cropped_aligned``.
        margin: pixels added to every side of a detected box.
        boxes: the detected faces (``detect``), shared by the datasets of a run.
    """

    faces: str = "detect"
    margin: int = 15
    boxes: FaceBoxes = field(default_factory=FaceBoxes)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._probes: dict[Path, SourceInfo] = {}  # the windows of a video share its probe

    def _load(self, index: int, record: ClipRecord) -> dict:
        faces, source_indices = self._faces(record)
        size = (self.image_size, self.image_size)
        rng = np.random.default_rng((self.seed, self.epoch, index)) if self.augment else None
        augment = sample_clip_transform(*size, size, rng, scale=self.scale, flip_prob=self.flip_prob)
        frames = [augment(ClipTransform(None, False, size)(face, {})[0], {})[0] for face in faces]
        return {
            "frames": torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous(),  # (T, 3, S, S)
            **self.item_fields(index, record, list(source_indices)),
            "target_mask": torch.zeros(len(frames), dtype=torch.bool),  # no structural annotation
        }

    def _faces(self, record: ClipRecord) -> tuple[list[np.ndarray], list[int]]:
        """RGB faces (T of (h, w, 3)) of the item's sampled frames and their source indices."""
        path, name = self.media_path(record), video_name(record.clip_id)
        span = (
            None
            if record.start_frame is None and record.end_frame is None
            else (record.start_frame, record.end_frame)
        )
        if self.faces == "cropped_aligned":
            if path not in self._probes:
                self._probes[path] = probe(path)
            indices = sampled_frames(self, record, self._probes[path])
            files = [face_crop_file(self.root, name, i) for i in indices]
            found = fill_missing([f if f.is_file() else None for f in files])
            if found[0] is not None:
                read = {f: read_image(f) for f in set(found)}
                return [read[f] for f in found], indices
            log.debug("%s: no cropped_aligned face in any sampled frame: whole frames", record.clip_id)
            return self._frames(path, span)
        images, indices = self._frames(path, span)
        boxes = fill_missing(self.boxes.of(path, person_side(name), indices, images))
        return [
            image if box is None else crop(image, box, self.margin) for image, box in zip(images, boxes)
        ], indices

    def _frames(self, path: Path, span) -> tuple[list[np.ndarray], list[int]]:
        return read_frames(path, self.frames, sampling=self.sampling, interval=self.interval, span=span)


class FaceView(FrameView):
    """What ``vemd predict`` gives a model of faces (module docstring): each decoded frame's
    face as :class:`FaceClipDataset` makes it for training (the offline detector, the largest
    face, the box grown by ``margin``), resized to the model's ``size``.

    :meth:`frame` keeps a frame's box and resized face, or, without a face, the whole frame
    until its window is known; :meth:`window` gives a faceless frame the nearest face box of its
    window (:func:`fill_missing`, as an item's frames are filled) and reads a window without any
    face as whole frames. The faces stay in memory.
    """

    def __init__(self, size: int, margin: int, detect: Detect | None = None) -> None:
        super().__init__(size)
        self.margin = margin
        self.detect = detect or offline_detector()

    def frame(self, image: np.ndarray) -> tuple[Box | None, np.ndarray]:
        box = pick_face(self.detect(image))
        return (None, image) if box is None else (box, self.resize(crop(image, box, self.margin)))

    def window(self, held: list[tuple[Box | None, np.ndarray]]) -> list[np.ndarray]:
        boxes = fill_missing([own for own, _ in held])
        return [
            image if own is not None else self.resize(image if box is None else crop(image, box, self.margin))
            for (own, image), box in zip(held, boxes)
        ]


def face_view(cfg: Config, size: int) -> FrameView:
    """``vemd predict``'s view of a model of ``cfg``: frames resized (``faces: none``), else faces."""
    a = cfg.system.abaw24
    if a.faces == "none":
        return FrameView(size)
    if a.faces == "cropped_aligned":
        log.warning(
            "a model of AffWild2's cropped_aligned faces: a video has no such crops, so its faces are "
            "found by vemd's offline detector and cropped with %d px more on every side",
            a.face_margin,
        )
    return FaceView(size, a.face_margin)


def with_faces(dataset: ClipDataset, cfg: Config, boxes: FaceBoxes | None = None) -> ClipDataset:
    """``dataset`` reading faces as ``system.abaw24.faces`` says (itself for ``none``)."""
    a = cfg.system.abaw24
    if a.faces == "none":
        return dataset
    same = {f.name: getattr(dataset, f.name) for f in fields(dataset) if f.init}
    return FaceClipDataset(**same, faces=a.faces, margin=a.face_margin, boxes=boxes or FaceBoxes())


def split_dataset(cfg: Config, split: str, *, train: bool, boxes: FaceBoxes | None = None):
    """(the split's dataset reading faces as configured, its index)."""
    dataset, index = split_data(cfg, split, train=train)
    return with_faces(dataset, cfg, boxes), index
