"""Validation of a dataset copy before training on it (``vemd data check``).

Reads, never writes: every split's records through its loader (collecting problems
instead of stopping), every media file (missing; unreadable: every image is decoded;
truncated: a video's last frame must decode; too short for the configured frame
sampling), and the share of sampled training frames that have an entry in the
annotation store. Media are checked by a pool of :data:`CHECK_WORKERS` threads (Pillow
and FFmpeg decode outside the GIL), with a progress bar on an interactive terminal.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vemd.config import DataConfig
from vemd.data.coverage import annotation_path, mismatch_message, open_annotations, sampled_keys
from vemd.data.loaders import DatasetIndex, dataset_splits, load_index
from vemd.data.media import SourceInfo, TruncatedVideo, probe
from vemd.errors import DataError, MissingSplit
from vemd.structure.annotations import AnnotationFormatError, AnnotationStore

PROBLEM_KINDS = ("split", "index", "unreadable", "truncated", "short", "annotations")
CHECK_WORKERS = min(8, os.cpu_count() or 1)


@dataclass
class Problem:
    kind: str  # one of PROBLEM_KINDS
    split: str
    path: str
    message: str


@dataclass
class Coverage:
    store: str
    frames: int  # sampled training frames
    annotated: int  # of which have a key in the store

    @property
    def fraction(self) -> float:
        return self.annotated / self.frames if self.frames else 0.0


@dataclass
class CheckReport:
    name: str
    root: str
    frames: int
    sampling: str
    class_names: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split → class → items
    problems: list[Problem] = field(default_factory=list)
    coverage: Coverage | None = None
    notes: list[str] = field(default_factory=list)  # facts that are not problems

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.coverage is not None:
            data["coverage"]["fraction"] = self.coverage.fraction
        return data


def shortness(info: SourceInfo, cfg: DataConfig) -> str | None:
    """Why a source cannot give ``cfg.frames`` distinct frames as sampled, or None."""
    if info.kind == "image":
        return None
    if info.num_frames < cfg.frames:
        return f"has {info.num_frames} frames, fewer than data.frames={cfg.frames}"
    if cfg.sampling == "fps" and info.fps > 0:
        needed = (cfg.frames - 1) * cfg.frame_interval * info.fps + 1
        if info.num_frames < needed:
            seconds = info.num_frames / info.fps
            return f"lasts {seconds:.2f} s, shorter than {cfg.frames} frames {cfg.frame_interval:g} s apart"
    return None


def check_dataset(
    cfg: DataConfig, splits: tuple[str, ...] | None = None, *, progress: bool = False
) -> CheckReport:
    """Counts, problems and annotation coverage of the copy described by ``cfg``;
    ``progress`` shows a bar (on stderr) while the media are decoded."""
    report = CheckReport(cfg.name, str(cfg.root), cfg.frames, cfg.sampling)
    store = _open_store(cfg, report)
    with _verifier(progress) as verify:
        for split in splits or dataset_splits(cfg):
            _check_split(cfg, split, report, store, verify, asked=splits is not None)
    return report


def _check_split(cfg: DataConfig, split: str, report: CheckReport, store, verify, *, asked: bool) -> None:
    """Records of one split through its loader, then its media (and coverage for training).

    A copy without a test split is not a problem (test labels are often not distributed, and
    ``vemd synth`` writes none by default) unless the split was asked for; it is noted.
    """
    found: list[tuple[str, str]] = []
    try:
        index = load_index(cfg, split, problems=found)
    except MissingSplit as err:
        if split == cfg.test_split and split not in (cfg.train_split, cfg.val_split) and not asked:
            report.notes.append(f"{split}: {err}")
        else:
            report.problems.append(Problem("split", split, str(cfg.root), str(err)))
        return
    except DataError as err:
        report.problems.append(Problem("split", split, str(cfg.root), str(err)))
        return
    known = {(p.path, p.message) for p in report.problems if p.kind == "index"}
    # a loader reading one table for every split (manifest.csv) finds its bad rows once per split
    report.problems += [Problem("index", split, *item) for item in dict.fromkeys(found) if item not in known]
    report.class_names = report.class_names or index.class_names
    report.counts[split] = dict(Counter(r.label for r in index.records))
    train = split == cfg.train_split
    covered = _check_media(index, cfg, split, report, store if train else None, verify)
    if store is not None and train:
        report.coverage = covered


def _verified(path: Path) -> SourceInfo | DataError:
    try:
        return probe(path, verify=True)
    except DataError as err:
        return err


@contextmanager
def _verifier(progress: bool) -> Iterator:
    """A function ``verify(paths, split)`` that probes with ``verify=True`` in a thread pool and
    yields each path's SourceInfo or DataError in order, advancing a progress bar if asked."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    console = Console(stderr=True)
    bar = Progress(*columns, console=console, transient=True, disable=not (progress and console.is_terminal))
    with ThreadPoolExecutor(CHECK_WORKERS) as pool, bar:

        def verify(paths: list[Path], split: str) -> Iterator[SourceInfo | DataError]:
            task = bar.add_task(f"decoding {split}", total=len(paths))
            for result in pool.map(_verified, paths):
                bar.advance(task)
                yield result

        yield verify


def _open_store(cfg: DataConfig, report: CheckReport) -> AnnotationStore | None:
    try:
        return open_annotations(cfg)
    except AnnotationFormatError as err:
        path = str(annotation_path(cfg))
        report.problems.append(
            Problem("annotations", cfg.train_split, path, str(err).removeprefix(f"{path}: "))
        )
        return None


def _check_media(
    index: DatasetIndex,
    cfg: DataConfig,
    split: str,
    report: CheckReport,
    store: AnnotationStore | None,
    verify,
) -> Coverage | None:
    coverage = Coverage(str(store.root), 0, 0) if store is not None else None
    dataset_key = None  # one key the split reads, for the message when the store has none of them
    paths = [index.root / record.path for record in index.records]
    for record, path, info in zip(index.records, paths, verify(paths, split)):
        if isinstance(info, DataError):
            kind = "truncated" if isinstance(info, TruncatedVideo) else "unreadable"
            report.problems.append(Problem(kind, split, str(path), str(info).removeprefix(f"{path}: ")))
            continue
        reason = shortness(info, cfg)
        if reason:
            report.problems.append(Problem("short", split, str(path), reason))
        if coverage is not None:
            keys = sampled_keys(index, record, info)
            dataset_key = dataset_key or keys[0]
            coverage.frames += len(keys)
            coverage.annotated += sum(key in store for key in keys)
    if coverage is not None and dataset_key is not None and coverage.annotated == 0:
        message = mismatch_message(store, index, split, dataset_key, cfg)
        report.problems.append(
            Problem("annotations", split, coverage.store, message.removeprefix(f"{coverage.store}: "))
        )
    return coverage
