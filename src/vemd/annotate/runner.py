"""Annotating many sources: resumable, over worker processes, with a problems list.

The parent owns the store; workers (each with its own backend) decode and annotate one
source at a time. Frames already in the store are skipped, and a shard is flushed after
each source once ``flush_seconds`` have passed since the last one, so a killed run loses at
most that much work and a rerun continues from there (shards stay few and large).
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from vemd.annotate.backends import BackendFactory
from vemd.annotate.backends.base import Backend
from vemd.annotate.sources import MediaItem
from vemd.config import DataConfig
from vemd.data.manifest import annotation_key
from vemd.data.media import clip_indices, probe, read_frames_at
from vemd.errors import DataError
from vemd.io import atomic_write_text
from vemd.progress import RateColumn
from vemd.structure.annotations import AnnotationStore, FrameAnnotation


@dataclass(frozen=True)
class Sampling:
    """Paper §4.3 frame sampling: ``frames`` per clip, ``uniform`` or ``fps`` (one per ``interval`` s)."""

    frames: int = 5
    sampling: str = "uniform"
    interval: float = 1.0

    @classmethod
    def of(cls, cfg: DataConfig) -> Sampling:
        """The sampling training reads a dataset with (``data.frames``, ``data.sampling``, ...)."""
        return cls(cfg.frames, cfg.sampling, cfg.frame_interval)

    def indices(self, path: Path) -> list[int]:
        """Distinct source frame indices to annotate, those training reads (an image gives [0])."""
        picks = clip_indices(probe(path), self.frames, sampling=self.sampling, interval=self.interval)
        return sorted(set(picks))


@dataclass
class ItemResult:
    """Annotated frames of one source (and how many were already stored), or its problem."""

    item: MediaItem
    records: list[tuple[str, FrameAnnotation]] = field(default_factory=list)
    skipped: int = 0
    problem: str | None = None


@dataclass
class RunReport:
    """What one run did: frames annotated, frames found already stored, failed sources."""

    annotated_frames: int = 0
    skipped_frames: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)


def annotate_item(backend: Backend, item: MediaItem, sampling: Sampling, done: frozenset[int]) -> ItemResult:
    """Annotate the sampled frames of ``item`` that are not in ``done``."""
    try:
        indices = sampling.indices(item.path)
        todo = [i for i in indices if i not in done]
        frames = read_frames_at(item.path, todo) if todo else []
    except DataError as err:
        return ItemResult(item, problem=str(err))
    records = [(annotation_key(item.clip_id, i), backend.annotate(f)) for i, f in zip(todo, frames)]
    return ItemResult(item, records, skipped=len(indices) - len(todo))


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers narrow): the worker
    count that keeps every core busy, since one worker runs one frame at a time on one core."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_worker_backend: Backend | None = None
_worker_error: BaseException | None = None


def _init_worker(factory: BackendFactory) -> None:
    # An exception raised here would kill the process, and multiprocessing's pool would start
    # another in its place, forever: the parent would wait on a run that never ends. It is kept
    # and raised by the worker's first task instead, which the pool hands back to the parent.
    global _worker_backend, _worker_error
    try:
        _worker_backend = factory()
    except Exception as err:  # the factory's own error (a missing model, a bad option)
        _worker_error = err


def _work(task: tuple[MediaItem, Sampling, frozenset[int]]) -> ItemResult:
    if _worker_error is not None:
        raise _worker_error
    return annotate_item(_worker_backend, *task)


def _stored_indices(store: AnnotationStore) -> dict[str, set[int]]:
    done: dict[str, set[int]] = {}
    keys = store.keys()
    for key in keys:
        clip_id, _, index = key.rpartition("/")
        done.setdefault(clip_id, set()).add(int(index))
    return done


def iter_results(
    items: list[MediaItem], store: AnnotationStore, factory: BackendFactory, sampling: Sampling, workers: int
) -> Iterator[ItemResult]:
    """Results of every item, in-process (``workers`` ≤ 1) or from a spawned process pool.

    The pool has at most one process per item: each process loads its own models (seconds
    of CPU) before it can take an item, so one with nothing to take only slows the others.
    """
    done = _stored_indices(store)
    tasks = [(item, sampling, frozenset(done.get(item.clip_id, ()))) for item in items]
    workers = min(workers, len(tasks))
    if workers <= 1:
        backend = factory()
        yield from (annotate_item(backend, *task) for task in tasks)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(factory,)) as pool:
        yield from pool.imap_unordered(_work, tasks, chunksize=1)


def run_annotation(
    items: list[MediaItem],
    store: AnnotationStore,
    factory: BackendFactory,
    sampling: Sampling = Sampling(),
    *,
    workers: int = 1,
    flush_seconds: float = 30.0,
    progress: bool = True,
) -> RunReport:
    """Annotate ``items`` into ``store``; sources that fail are listed, not fatal."""
    report = RunReport()
    columns = (
        TextColumn("annotating"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("annotate", total=len(items))
        last_flush = time.monotonic()
        try:
            for result in iter_results(items, store, factory, sampling, workers):
                _record(store, result, report)
                bar.advance(task)
                if time.monotonic() - last_flush >= flush_seconds:
                    store.flush()
                    last_flush = time.monotonic()
        finally:
            store.flush()
    return report


def _record(store: AnnotationStore, result: ItemResult, report: RunReport) -> None:
    if result.problem:
        report.problems.append((str(result.item.path), result.problem))
    report.skipped_frames += result.skipped
    for key, frame in result.records:
        if key not in store:
            store.add(key, frame)
            report.annotated_frames += 1


def write_problems(path: str | Path, problems: list[tuple[str, str]]) -> None:
    """``problems.csv`` with one ``path,problem`` line per failed source (header only if none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(("path", "problem"))
    writer.writerows(problems)
    atomic_write_text(path, buffer.getvalue())
