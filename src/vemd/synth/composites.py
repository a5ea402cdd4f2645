"""Composites: a group-emotion dataset of real labelled faces placed on backgrounds (``vemd synth --faces``).

The synthetic-video data of the authors' EmotiW 2023 system, on which the VE-MD paper pretrains its
ViT branch (§5.3, Table 11), made from the user's own face folder (:mod:`vemd.synth.face_folder`)
and background images (or SynthGroups' drawn backgrounds when none are given); each clip is drawn
and rendered by :mod:`vemd.synth.composite`. Written in the generic layout of
:mod:`vemd.data.manifest`, like SynthGroups::

    OUT/
      dataset.json            format vemd-composites: the options and what the faces and backgrounds
                              were (count, classes, a digest), checked on resume
      frames/<clip_id>/00.png one PNG per frame, clip_id = "<split>-<index:06d>"
      annotations/            AnnotationStore: per frame, the 68 points of each visible face (no body)
      manifest.csv, classes.json   written last (classes in GAF-3.0 / VGAF order: Positive, Neutral,
                              Negative, so that a head trained on composites carries over to them)

**Group label**: each face's expression gives its valence (happy +1, surprise 0, anger -1, ... by
the expression classes), and the clip's class is the SynthGroups rule of their mean:
Positive if mean ≥ +0.35, Negative if mean ≤ -0.35, else Neutral (:mod:`vemd.synth.group`). The
classes of a split are exactly balanced, and the faces of a split come from their own sequences
(:func:`vemd.synth.face_folder.split_faces`), so validation shows faces training never saw.

Determinism and resuming as SynthGroups (:mod:`vemd.synth.generate`): clip (split, i) draws from
``SeedSequence([seed, split, i])``, so the files do not depend on ``workers``; a clip is done when
all its frame keys are in the store.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vemd.data.loaders.generic import COMPOSITES_FORMAT
from vemd.data.manifest import ClipRecord, annotation_key, write_manifest
from vemd.data.media import IMAGE_SUFFIXES
from vemd.errors import DataError
from vemd.io import atomic_write_text
from vemd.structure.annotations import AnnotationStore, FrameAnnotation
from vemd.synth.composite import Composite, render_composite, sample_composite
from vemd.synth.face_folder import (
    Landmarker,
    SourceFace,
    folder_digest,
    parse_expression_classes,
    read_face,
    read_face_folder,
    split_faces,
    with_points,
)
from vemd.synth.generate import SPLITS, clip_id, progress_bar, split_labels, worker_pool, write_frames

VERSION = 1
CLASS_NAMES: tuple[str, ...] = ("Positive", "Neutral", "Negative")  # GAF-3.0 and VGAF's order


@dataclass(frozen=True)
class CompositeOptions:
    """What determines a composite dataset, besides its faces and backgrounds (saved in ``dataset.json``)."""

    n_train: int = 3000
    n_val: int = 600
    n_test: int = 0
    frames: int = 5
    seed: int = 0
    max_people: int = 6
    image_size: int = 224
    expression_classes: str | None = None  # overrides of DEFAULT_EXPRESSION_CLASSES: "happy=Positive,..."

    def __post_init__(self) -> None:
        """Refuse nonsense with one line naming the ``vemd synth`` option, its value and the range."""
        checks = (
            ("n-train", self.n_train, self.n_train >= 0, "an integer >= 0"),
            ("n-val", self.n_val, self.n_val >= 0, "an integer >= 0"),
            ("n-test", self.n_test, self.n_test >= 0, "an integer >= 0"),
            ("frames", self.frames, self.frames >= 1, "an integer >= 1"),
            ("max-people", self.max_people, 2 <= self.max_people <= 255, "an integer in 2..255 with --faces"),
            ("image-size", self.image_size, self.image_size >= 32, "an integer >= 32 (pixels)"),
        )
        for option, value, ok, allowed in checks:
            if not ok:
                raise DataError(f"synth: --{option} {value}: expected {allowed}")
        parse_expression_classes(self.expression_classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES

    def split_size(self, split: str) -> int:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]


@dataclass(frozen=True)
class CompositePlan:
    """What every clip of a dataset draws from: the options, each split's faces grouped by valence
    into sequences, and the background images (none: drawn backgrounds)."""

    options: CompositeOptions
    sequences: dict[str, dict[int, list[list[SourceFace]]]]
    backgrounds: tuple[str, ...]


def make_composite(plan: CompositePlan, split: str, index: int, label: str) -> Composite:
    """The composite of clip ``index`` of ``split`` (class ``label``), from its own seed."""
    rng = np.random.default_rng(np.random.SeedSequence([plan.options.seed, SPLITS.index(split), index]))
    o = plan.options
    return sample_composite(
        rng,
        label,
        plan.sequences[split],
        image_size=o.image_size,
        frames=o.frames,
        max_people=o.max_people,
        backgrounds=plan.backgrounds,
    )


def generate_composites(
    out: str | Path,
    *,
    faces: str | Path,
    backgrounds: str | Path | None = None,
    landmarker: Landmarker | None = None,
    workers: int = 1,
    preview: bool = False,
    progress: bool = True,
    **options,
) -> Path:
    """Write (or finish) a composite dataset in ``out`` and return its path.

    ``faces`` is the labelled face folder, ``backgrounds`` a folder of images (None: drawn
    ones), ``landmarker`` gives the 68 points of a face that has no ``.pts`` file; ``options``
    are the fields of :class:`CompositeOptions`. Rerunning with the same inputs resumes.
    """
    opts = CompositeOptions(**options)
    if workers < 1:
        raise DataError(f"synth: --workers {workers}: expected an integer >= 1")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: --out names an existing file; composites are written into a folder")
    classes = parse_expression_classes(opts.expression_classes)
    found = read_face_folder(faces, classes)
    plan = make_plan(opts, with_points(found, landmarker), _background_files(backgrounds))
    root.mkdir(parents=True, exist_ok=True)
    _check_record(root, _record(opts, found, faces, classes, plan.backgrounds, backgrounds))
    store = AnnotationStore(root / "annotations", create=True)
    jobs = [(s, i, CLASS_NAMES[int(y)]) for s in SPLITS for i, y in enumerate(split_labels(opts, s))]
    todo = [j for j in jobs if not _done(store, clip_id(j[0], j[1]), opts.frames)]
    with progress_bar(progress) as bar:
        task = bar.add_task("composites", total=len(jobs), completed=len(jobs) - len(todo))
        with worker_pool(workers, _WORKER, {"root": root, "plan": plan}, _init_worker) as pool:
            for name, annotations in pool.imap(_work, todo, chunksize=4):
                for t, annotation in enumerate(annotations):
                    if annotation_key(name, t) not in store:
                        store.add(annotation_key(name, t), annotation)
                bar.advance(task)
        store.flush()
    records = [ClipRecord(clip_id(s, i), s, y, f"frames/{clip_id(s, i)}") for s, i, y in jobs]
    write_manifest(root, records, list(CLASS_NAMES), task="ger", source="composites")
    if preview:
        from vemd.synth.preview import write_previews

        write_previews(root)
    return root


def _done(store: AnnotationStore, name: str, frames: int) -> bool:
    return all(annotation_key(name, t) in store for t in range(frames))


def make_plan(
    options: CompositeOptions, faces: list[SourceFace], backgrounds: tuple[str, ...]
) -> CompositePlan:
    sizes = {s: options.split_size(s) for s in SPLITS}
    sequences: dict[str, dict[int, list[list[SourceFace]]]] = {}
    for split, chosen in split_faces(faces, sizes, options.seed).items():
        grouped: dict[int, dict[str, list[SourceFace]]] = defaultdict(lambda: defaultdict(list))
        for face in chosen:
            grouped[face.valence][face.sequence].append(face)
        sequences[split] = {v: [seq[k] for k in sorted(seq)] for v, seq in grouped.items()}
    return CompositePlan(options, sequences, backgrounds)


def _background_files(folder: str | Path | None) -> tuple[str, ...]:
    if folder is None:
        return ()
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such background folder")
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{root}: no background images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return tuple(files)


def _record(
    options: CompositeOptions,
    faces: list[SourceFace],
    face_root: str | Path,
    classes: dict[str, str],
    backgrounds: tuple[str, ...],
    background_root: str | Path | None,
) -> dict:
    """``dataset.json``: the options and what the inputs were (not where: a copy moved still resumes)."""
    counts = Counter(f.expression for f in faces)
    points = sum(f.points is not None for f in faces)
    recorded = asdict(options)
    recorded.pop("expression_classes")
    source = {
        "count": len(faces),
        "by_expression": dict(sorted(counts.items())),
        "expression_classes": {e: classes[e] for e in sorted(counts)},
        "points": {"pts_files": points, "landmarker": len(faces) - points},
        "digest": folder_digest(faces, face_root),
    }
    if backgrounds:
        names = "".join(f"{Path(b).relative_to(background_root)};" for b in backgrounds)
        drawn = {"count": len(backgrounds), "names": _digest(names)}
    else:
        drawn = "drawn (vemd.synth.background)"
    return {
        "format": COMPOSITES_FORMAT,
        "version": VERSION,
        "options": recorded,
        "faces": source,
        "backgrounds": drawn,
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_record(root: Path, record: dict) -> None:
    path = root / "dataset.json"
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except ValueError as err:
            raise DataError(f"{path}: unreadable ({err})") from err
        if previous != record:
            raise DataError(f"{path}: {root} holds a dataset made from other inputs; use a new --out folder")
    else:
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")


_WORKER: dict = {}


def _init_worker(root: Path, plan: CompositePlan) -> None:
    cv2.setNumThreads(1)
    _WORKER.update(root=root, plan=plan)


def _work(job: tuple[str, int, str]) -> tuple[str, list[FrameAnnotation]]:
    split, index, label = job
    composite = make_composite(_WORKER["plan"], split, index, label)
    rendered = render_composite(composite, _read_background, _read_source)
    name = clip_id(split, index)
    write_frames(_WORKER["root"], name, [frame for frame, _ in rendered])
    return name, [annotation for _, annotation in rendered]


@lru_cache(maxsize=4096)
def _read_face_file(path: Path) -> np.ndarray:
    return read_face(path)


def _read_source(face: SourceFace) -> np.ndarray:
    return _read_face_file(face.path)


@lru_cache(maxsize=32)
def _read_background(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: unreadable background image")
    return image
