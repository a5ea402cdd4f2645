"""Dataset loaders: one module per published layout, registered by ``data.name``.

A loader turns a dataset copy on disk into plain :class:`ClipRecord` lists for one
split; the torch Dataset (:mod:`vemd.data.dataset`) reads the media. Class names and
their order (= label index) come from the loader.

Problems (a missing file, a label outside the known set) raise :class:`DataError`
naming the file, unless the caller passes ``problems=[]``: then each one is appended
as ``(path, message)`` and the item is left out, so ``vemd data check`` can list them
all. ``data.skip_bad`` does the same during training and logs one line with the count.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vemd.config import DataConfig
from vemd.data.loaders.common import Problems
from vemd.data.manifest import ClipRecord
from vemd.errors import DataError

log = logging.getLogger(__name__)

LoaderFn = Callable[[DataConfig, str, Problems | None], tuple[list[ClipRecord], list[str]]]

LOADER_MODULES = ("generic", "gaf3", "vgaf", "dfew", "mer2023", "samsemo", "engagenet", "affwild2")


@dataclass
class DatasetIndex:
    """The records of one split and what the Dataset needs to read them."""

    name: str
    root: Path  # ClipRecord.path is relative to root (or absolute)
    class_names: list[str]  # order = label index; stored in checkpoints and reports
    records: list[ClipRecord]  # the requested split only
    frames: int  # T
    sampling: str  # "uniform" or "fps"
    interval: float  # seconds between frames for "fps"


@dataclass(frozen=True)
class LoaderSpec:
    fn: LoaderFn
    splits: tuple[str, ...] | None  # the published splits; None: the config's split names
    frames: int  # paper §4.3
    sampling: str
    interval: float


_REGISTRY: dict[str, LoaderSpec] = {}


def register(
    name: str,
    *,
    splits: tuple[str, ...] | None = None,
    frames: int = 10,
    sampling: str = "uniform",
    interval: float = 1.0,
) -> Callable[[LoaderFn], LoaderFn]:
    """Register a loader under ``name`` with its splits and frame sampling (paper §4.3)."""

    def decorate(fn: LoaderFn) -> LoaderFn:
        _REGISTRY[name] = LoaderSpec(fn, splits, frames, sampling, interval)
        return fn

    return decorate


def _spec(name: str) -> LoaderSpec:
    for module in LOADER_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    if name not in _REGISTRY:
        raise DataError(f"data.name={name!r}: unknown dataset (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]


def dataset_names() -> list[str]:
    _spec("synth")
    return sorted(_REGISTRY)


def dataset_defaults(name: str) -> dict:
    """The frame sampling of a dataset (paper §4.3): ``dict(frames=, sampling=, interval=)``."""
    spec = _spec(name)
    return {"frames": spec.frames, "sampling": spec.sampling, "interval": spec.interval}


def dataset_splits(cfg: DataConfig) -> tuple[str, ...]:
    """The splits a copy of ``cfg.name`` is expected to hold."""
    spec = _spec(cfg.name)
    return spec.splits or (cfg.train_split, cfg.val_split, cfg.test_split)


def load_index(cfg: DataConfig, split: str, problems: Problems | None = None) -> DatasetIndex:
    """Records of ``split`` of the dataset ``cfg.name`` stored at ``cfg.root``."""
    spec = _spec(cfg.name)
    collected = problems if problems is not None else ([] if cfg.skip_bad else None)
    records, class_names = spec.fn(cfg, split, collected)
    if problems is None and collected:
        log.warning(
            "%s: %d bad item(s) skipped in split %r (first: %s: %s); run `vemd data check` for the list",
            cfg.root,
            len(collected),
            split,
            *collected[0],
        )
    return DatasetIndex(
        name=cfg.name,
        root=Path(cfg.root),
        class_names=list(class_names),
        records=records,
        frames=cfg.frames,
        sampling=cfg.sampling,
        interval=cfg.frame_interval,
    )
