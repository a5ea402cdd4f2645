"""Writing a SynthGroups dataset in the generic layout of :mod:`vemd.data.manifest`.

::

    OUT/
      dataset.json            generation options and seed (written first, checked on resume)
      frames/<clip_id>/00.png one PNG per frame (T per clip), clip_id = "<split>-<index:06d>"
      audio/<clip_id>.wav     with ``audio``: AUDIO_SECONDS of 16 kHz mono 16-bit PCM for the clip
      va/<clip_id>.txt        with ``va``: valence, arousal of each frame (:mod:`vemd.data.va` layout)
      annotations/            AnnotationStore, keys annotation_key(clip_id, t)
      manifest.csv            written last: its presence means the dataset is complete
                              (with ``audio``, an ``audio`` column names each clip's WAV; with
                              ``va``, ``valence``, ``arousal`` (the clip means) and ``va_file``)
      classes.json            {"class_names": ["Negative", "Neutral", "Positive"], "task": ...}
      identities/, groups/    with ``identities``: the audit folders (:mod:`vemd.synth.identity_sets`)

Determinism: clip (split, i) draws everything from ``SeedSequence([seed, split, i])`` and the
labels of a split are a seeded permutation of exactly balanced classes, so the frames,
annotations and audio do not depend on ``workers`` or on resuming. Annotations are added to
the store in clip order, so the shards hold the same records too (the .npz zip headers carry
a write time, so compare their arrays, not their bytes).

Audio (``audio=True``, paper §7): the class y of the manifest is then carried by the scene or
by the sound, by the audio-visual rule of :mod:`vemd.synth.group` (for task ``ier`` the
scene's label is its dominant person's); the sound is made by :mod:`vemd.synth.audio`. The
rule and the sound draw from their own children of the clip's seed, after the scene's and the
annotation noise's, so a dataset without audio is drawn exactly as before audio existed, and
its ``dataset.json`` holds no ``audio`` key.

Valence/arousal (``va=True``): continuous targets in [-1, 1] per frame and per clip, read off
what is drawn (the people's expressions, mouths and head motion) by the rule of
:mod:`vemd.synth.affect`. They take no random draw, so the frames, annotations and classes of a
clip are the same with or without ``va``; a dataset without it holds no ``va`` key in its
``dataset.json`` and no va columns in its manifest (which is why ``va`` is off by default).

Recurring people (``identities=K``, :mod:`vemd.synth.identity`): every person of every clip is
one of K identities with fixed looks and shapes (distinct within a clip, at most K per clip),
and the audit folders ``identities/`` and ``groups/`` are written after the splits. Task
``identity`` shows one of them alone per clip, the class being its name (the K names are the
classes, balanced per split): a dataset to train a model to read identity on purpose, the
control of a privacy audit. ``dataset.json`` holds the three identity keys only when set, so a
dataset without identities is drawn, and recorded, exactly as before they existed.

Resuming: a clip is done when all its frame keys are in the store (and, with audio, its WAV
exists; with va, its va file). Frames are written to a hidden ``frames/.partial-<clip_id>``
folder, the WAV to ``audio/.partial-<clip_id>.wav`` and the va file to a hidden temporary file
beside it, then renamed, so a killed run leaves no half clip. The manifest's clip values are
read back from the va files, so a resumed run writes the same manifest.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from vemd.data.loaders.generic import SYNTH_FORMAT
from vemd.data.manifest import ClipRecord, annotation_key, write_manifest
from vemd.data.va import read_va_file, write_va_file
from vemd.errors import DataError
from vemd.io import atomic_write_text
from vemd.structure.annotations import AnnotationStore, FrameAnnotation
from vemd.synth.affect import clip_affect, clip_means
from vemd.synth.group import CLASS_NAMES, sample_audio_visual
from vemd.synth.identity import dataset_identities
from vemd.synth.identity_sets import audit_jobs, item_done, write_item, write_members
from vemd.synth.noise import add_annotation_noise
from vemd.synth.render import render_frames
from vemd.synth.scene import TASKS, SceneOptions, sample_scene

SPLITS = ("train", "val", "test")
FORMAT = SYNTH_FORMAT  # of dataset.json; vemd.data reads it (data.frames)
VERSION = 1
MAX_IDENTITIES = 1000  # names p000..p999
_IDENTITY_FIELDS = ("identities", "per_identity", "n_groups")


@dataclass(frozen=True)
class SynthOptions:
    """Everything that determines a dataset's content (saved as ``dataset.json``)."""

    n_train: int = 3000
    n_val: int = 600
    n_test: int = 0
    frames: int = 5
    seed: int = 0
    max_people: int = 12
    task: str = "ger"
    annotation_noise: float = 0.0
    image_size: int = 224
    audio: bool = False  # a WAV per clip, and the audio-visual label rule
    va: bool = False  # per-frame valence/arousal files and their clip means in the manifest
    identities: int = 0  # recurring people (0: everyone new), and the audit folders of them
    per_identity: int = 8  # with identities: items of each identity alone in identities/<name>/
    n_groups: int = 120  # with identities: group scenes in groups/

    def __post_init__(self) -> None:
        """Refuse nonsense with one line naming the ``vemd synth`` option, its value and the range."""
        checks = (
            ("n-train", self.n_train, self.n_train >= 0, "an integer >= 0"),
            ("n-val", self.n_val, self.n_val >= 0, "an integer >= 0"),
            ("n-test", self.n_test, self.n_test >= 0, "an integer >= 0"),
            ("frames", self.frames, self.frames >= 1, "an integer >= 1"),
            ("max-people", self.max_people, 1 <= self.max_people <= 255, "an integer in 1..255"),
            ("image-size", self.image_size, self.image_size >= 32, "an integer >= 32 (pixels)"),
            ("annotation-noise", self.annotation_noise, 0.0 <= self.annotation_noise <= 1.0, "in [0, 1]"),
            ("task", self.task, self.task in TASKS, f"one of {', '.join(TASKS)}"),
            (
                "identities",
                self.identities,
                self.identities == 0 or 2 <= self.identities <= MAX_IDENTITIES,
                f"an integer in 2..{MAX_IDENTITIES} (the number of recurring people)",
            ),
            ("per-identity", self.per_identity, self.per_identity >= 0, "an integer >= 0"),
            ("n-groups", self.n_groups, self.n_groups >= 0, "an integer >= 0"),
        )
        for option, value, ok, allowed in checks:
            if not ok:
                shown = f"{value:g}" if isinstance(value, float) else value
                raise DataError(f"synth: --{option} {shown}: expected {allowed}")
        self._check_identity_options()

    def _check_identity_options(self) -> None:
        """What --identities, --per-identity, --n-groups and --task identity need of each other."""
        with_identities = self.identities > 0
        needs = (
            (
                "task",
                self.task,
                self.task != "identity" or with_identities,
                "needs --identities K (its classes)",
            ),
            (
                "task",
                self.task,
                self.task != "identity" or not self.audio,
                "not with --audio (a 3-class rule)",
            ),
            (
                "max-people",
                self.max_people,
                not with_identities or self.n_groups == 0 or self.max_people >= 2,
                "expected >= 2 with --identities (the scenes of groups/ hold 2 or more people)",
            ),
            (
                "image-size",
                self.image_size,
                not with_identities or self.frames == 1 or self.image_size % 2 == 0,
                "expected an even size with --identities and --frames > 1 (the audit items are yuv420p MP4s)",
            ),
            (
                "per-identity",
                self.per_identity,
                with_identities or self.per_identity == SynthOptions.per_identity,
                "needs --identities K",
            ),
            (
                "n-groups",
                self.n_groups,
                with_identities or self.n_groups == SynthOptions.n_groups,
                "needs --identities K",
            ),
        )
        for option, value, ok, why in needs:
            if not ok:
                raise DataError(f"synth: --{option} {value}: {why}")

    @property
    def scene(self) -> SceneOptions:
        people = dataset_identities(self.seed, self.identities) if self.identities else ()
        return SceneOptions(self.image_size, self.frames, self.max_people, self.task, identities=people)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes of the manifest: the identities' names for task identity, else CLASS_NAMES."""
        if self.task == "identity":
            return tuple(person.name for person in self.scene.identities)
        return CLASS_NAMES

    def split_size(self, split: str) -> int:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]


def split_labels(options: SynthOptions, split: str) -> np.ndarray:
    """(n,) class indices of a split: exactly balanced (counts differ by at most 1), seeded order."""
    n = options.split_size(split)
    rng = np.random.default_rng([options.seed, SPLITS.index(split), 1 << 20])
    return rng.permutation(np.arange(n) % len(options.class_names))


def clip_id(split: str, index: int) -> str:
    return f"{split}-{index:06d}"


def audio_path(split: str, index: int) -> str:
    """A clip's WAV, relative to the dataset root."""
    return f"audio/{clip_id(split, index)}.wav"


def va_path(split: str, index: int) -> str:
    """A clip's per-frame valence/arousal file, relative to the dataset root."""
    return f"va/{clip_id(split, index)}.txt"


def _clip_seeds(options: SynthOptions, split: str, index: int) -> list[np.random.SeedSequence]:
    """The clip's seeds: scene, annotation noise, audio-visual rule, sound (children 0..3)."""
    return np.random.SeedSequence([options.seed, SPLITS.index(split), index]).spawn(4)


def clip_carriers(options: SynthOptions, split: str, index: int, label: int) -> tuple[int, int | None]:
    """(class the scene shows, audio affect in {-1, 0, +1}) of a clip of class ``label``.

    Without audio the scene shows ``label`` and there is no affect (None).
    """
    if not options.audio:
        return label, None
    return sample_audio_visual(np.random.default_rng(_clip_seeds(options, split, index)[2]), label)


def make_clip(
    options: SynthOptions, split: str, index: int, label: int
) -> tuple[list, list[FrameAnnotation]]:
    """Frames (T × (S, S, 3) uint8 BGR) and annotations of one clip of class ``label``, from its own seed."""
    frames, annotations, _ = _draw_clip(options, split, index, label)
    return frames, annotations


def make_va(options: SynthOptions, split: str, index: int, label: int) -> np.ndarray:
    """(T, 2) valence, arousal of each frame of one clip of class ``label`` (:mod:`vemd.synth.affect`).

    NaN in a frame that shows no face; the same whether or not ``options.va`` is set.
    """
    return _draw_clip(options, split, index, label)[2]


def _draw_clip(
    options: SynthOptions, split: str, index: int, label: int
) -> tuple[list, list[FrameAnnotation], np.ndarray]:
    """Frames, annotations and (T, 2) valence/arousal of one clip, from its own seed."""
    scene_seq, noise_seq = _clip_seeds(options, split, index)[:2]
    shown, _ = clip_carriers(options, split, index, label)
    scene = sample_scene(np.random.default_rng(scene_seq), shown, options.scene)
    rendered = render_frames(scene)
    noise_rng = np.random.default_rng(noise_seq)
    annotations = [add_annotation_noise(a, noise_rng, options.annotation_noise) for _, a, _ in rendered]
    va = clip_affect(scene, np.stack([shares for _, _, shares in rendered]))
    return [frame for frame, _, _ in rendered], annotations, va


def make_audio(options: SynthOptions, split: str, index: int, label: int) -> np.ndarray:
    """(AUDIO_SECONDS · 16000,) float32 sound of one clip of class ``label`` (needs ``audio``)."""
    from vemd.synth.audio import AUDIO_SECONDS, synthesize_audio  # SciPy's signal module, only for audio

    _, affect = clip_carriers(options, split, index, label)
    if affect is None:
        raise ValueError("make_audio needs SynthOptions(audio=True)")
    return synthesize_audio(
        np.random.default_rng(_clip_seeds(options, split, index)[3]), affect, AUDIO_SECONDS
    )


def _write_clip(
    root: Path, options: SynthOptions, job: tuple[str, int, int]
) -> tuple[str, list[FrameAnnotation]]:
    split, index, label = job
    name = clip_id(split, index)
    frames, annotations, va = _draw_clip(options, split, index, label)
    if options.audio:
        from vemd.synth.audio import write_wav

        write_wav(root / audio_path(split, index), make_audio(options, split, index, label))
    if options.va:
        path = root / va_path(split, index)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed write
            stale.unlink()
        write_va_file(path, va)
    write_frames(root, name, frames)
    return name, annotations


def write_frames(root: Path, name: str, frames: list[np.ndarray]) -> None:
    """``frames/<name>/00.png ...``, written to a hidden partial folder and renamed: no half clip."""
    final, partial = root / "frames" / name, root / "frames" / f".partial-{name}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(partial / f"{t:02d}.png"), frame)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)


_WORKER: dict = {}


def _init_worker(root: Path, options: SynthOptions) -> None:
    _WORKER.update(root=root, options=options)


def _init_pool_worker(root: Path, options: SynthOptions) -> None:
    cv2.setNumThreads(1)  # one core per worker process
    _init_worker(root, options)


def _work(job: tuple[str, int, int]) -> tuple[str, list[FrameAnnotation]]:
    return _write_clip(_WORKER["root"], _WORKER["options"], job)


def _work_audit(job: tuple[str, int, int]) -> None:
    write_item(_WORKER["root"], _WORKER["options"], job)


def _check_options(root: Path, options: SynthOptions) -> None:
    path = root / "dataset.json"
    recorded = asdict(options)
    for flag in ("audio", "va"):
        if not recorded[flag]:
            del recorded[flag]  # as written before the option existed, so such datasets still resume
    if not options.identities:
        for key in _IDENTITY_FIELDS:
            del recorded[key]
    record = {"format": FORMAT, "version": VERSION, "options": recorded}
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except ValueError as err:
            raise DataError(f"{path}: unreadable ({err})") from err
        if previous != record:
            raise DataError(f"{path}: {root} holds a dataset made with other options; use a new --out folder")
    else:
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def generate_dataset(
    out: str | Path, *, workers: int = 1, preview: bool = False, progress: bool = True, **options
) -> Path:
    """Write (or finish) a SynthGroups dataset in ``out`` and return its path.

    ``options`` are the fields of :class:`SynthOptions` (n_train, n_val, n_test, frames, seed,
    max_people, task, annotation_noise, image_size, audio, va, identities, per_identity, n_groups).
    Rerunning with the same options resumes.
    """
    opts = SynthOptions(**options)
    if workers < 1:
        raise DataError(f"synth: --workers {workers}: expected an integer >= 1")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: --out names an existing file; SynthGroups is written into a folder")
    root.mkdir(parents=True, exist_ok=True)
    _check_options(root, opts)
    store = AnnotationStore(root / "annotations", create=True)
    for flag in ("audio", "va"):
        if getattr(opts, flag):
            (root / flag).mkdir(exist_ok=True)
    jobs = [(s, i, int(y)) for s in SPLITS for i, y in enumerate(split_labels(opts, s))]
    todo = [j for j in jobs if not _clip_done(root, store, opts, j[0], j[1])]
    audit = audit_jobs(opts) if opts.identities else []
    audit_todo = [j for j in audit if not item_done(root, opts, j)]
    with progress_bar(progress) as bar:
        task = bar.add_task("synth", total=len(jobs), completed=len(jobs) - len(todo))
        with worker_pool(workers, _WORKER, {"root": root, "options": opts}, _init_pool_worker) as pool:
            for name, annotations in pool.imap(_work, todo, chunksize=4):
                for t, annotation in enumerate(annotations):
                    if annotation_key(name, t) not in store:
                        store.add(annotation_key(name, t), annotation)
                bar.advance(task)
            store.flush()
            if audit:
                task = bar.add_task("identities", total=len(audit), completed=len(audit) - len(audit_todo))
                for _ in pool.imap(_work_audit, audit_todo, chunksize=4):
                    bar.advance(task)
    if audit:
        write_members(root, opts)
    records = [_record(root, opts, s, i, y) for s, i, y in jobs]
    write_manifest(root, records, list(opts.class_names), task=opts.task, source="synthgroups")
    if preview:
        from vemd.synth.preview import write_previews

        write_previews(root)
    return root


def _record(root: Path, options: SynthOptions, split: str, index: int, label: int) -> ClipRecord:
    """The manifest row of a written clip; with va, its clip means read back from its va file."""
    name = clip_id(split, index)
    label_name = options.class_names[label]
    audio = audio_path(split, index) if options.audio else None
    if not options.va:
        return ClipRecord(name, split, label_name, f"frames/{name}", audio=audio)
    # unwrapped: the cache may hold this path's file from before this run rewrote it
    valence, arousal = clip_means(read_va_file.__wrapped__(root / va_path(split, index)))
    return ClipRecord(
        name,
        split,
        label_name,
        f"frames/{name}",
        audio=audio,
        valence=valence,
        arousal=arousal,
        va_file=va_path(split, index),
    )


def _clip_done(root: Path, store: AnnotationStore, options: SynthOptions, split: str, index: int) -> bool:
    name = clip_id(split, index)
    if options.audio and not (root / audio_path(split, index)).is_file():
        return False
    if options.va and not (root / va_path(split, index)).is_file():
        return False
    return all(annotation_key(name, t) in store for t in range(options.frames))


class SerialPool:
    """The pool interface in the calling process (workers = 1): ``state`` filled with ``values``
    here, and emptied on exit."""

    def __init__(self, state: dict, values: dict) -> None:
        self._state = state
        state.update(values)

    def imap(self, fn, jobs, chunksize: int = 1):
        return map(fn, jobs)

    def __enter__(self) -> SerialPool:
        return self

    def __exit__(self, *exc) -> None:
        self._state.clear()


def worker_pool(workers: int, state: dict, values: dict, initializer):
    """``workers`` spawned processes, each set up by ``initializer(*values.values())``; with one
    worker, :class:`SerialPool` in this process (``state`` filled with ``values``)."""
    if workers <= 1:
        return SerialPool(state, values)
    # spawn, not fork: a forked child can inherit a locked thread pool (OpenMP, OpenCV) from a
    # parent that already ran torch, and hang.
    return multiprocessing.get_context("spawn").Pool(workers, initializer, tuple(values.values()))


def progress_bar(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, disable=not enabled, transient=False)
