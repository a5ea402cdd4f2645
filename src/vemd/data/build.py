"""A split of a dataset as a :class:`ClipDataset` and its evaluation loader.

Shared by training (``vemd fit``), evaluation (``vemd test``) and anything else that reads a
configured split: the loader of the dataset, its structural annotations when the model's
mode needs them, and the checks that the two fit together.
"""

from __future__ import annotations

import logging

import torch

from vemd.config import Config, ConfigError
from vemd.data.coverage import annotate_command, annotation_path, no_common_key, open_annotations
from vemd.data.dataset import ClipDataset, TargetSpec, annotated_clip_ids, collate
from vemd.data.loaders import DatasetIndex, load_index
from vemd.data.mix import MixedDataset, mix_into
from vemd.errors import DataError

log = logging.getLogger(__name__)


def needs_structure(cfg: Config, stage: str) -> bool:
    return stage == "2" and cfg.model.mode != "ve-sd"


def build_dataset(
    cfg: Config, split: str, *, train: bool, stage: str = "2"
) -> tuple[ClipDataset | MixedDataset, DatasetIndex]:
    """The dataset of one split; training drops clips without any annotation (and says so).

    A training split that shares no annotation key with the store is a DataError naming both
    sides (an example key of each) and the ``vemd annotate`` command that fixes it. A training
    split of a config with ``data.mix`` has that dataset's clips mixed in (:mod:`vemd.data.mix`).
    """
    index = load_index(cfg.data, split)
    if len(index.class_names) != cfg.model.num_classes:
        raise ConfigError(
            f"model.num_classes={cfg.model.num_classes} but {index.name} at {index.root} has "
            f"{len(index.class_names)} classes {index.class_names}"
        )
    store, targets = None, TargetSpec()
    if needs_structure(cfg, stage):
        store = open_annotations(cfg.data)
        if store is None:
            raise ConfigError(
                f"model.mode={cfg.model.mode} needs structural annotations: none at "
                f"{annotation_path(cfg.data)} (run `{annotate_command(cfg.data)}`, set data.annotations, "
                "or use model.mode=ve-sd)"
            )
        targets = TargetSpec(
            cfg.model.decoder, tuple(cfg.model.sr.modalities), cfg.model.heatmap.size, cfg.model.heatmap.sigma
        )
    records = index.records
    if train and store is not None:
        mismatch = no_common_key(store, index, split, cfg.data)
        if mismatch:
            raise DataError(mismatch)
        annotated = annotated_clip_ids(store)
        records = [r for r in records if r.clip_id in annotated]
        dropped = len(index.records) - len(records)
        log.info(
            "%s: %d of %d training clips have no annotation and are dropped",
            split,
            dropped,
            len(index.records),
        )
    dataset = ClipDataset(
        records,
        index.root,
        index.class_names,
        frames=index.frames,
        sampling=index.sampling,
        interval=index.interval,
        image_size=cfg.model.image_size,
        augment=train and cfg.data.augment,
        scale=tuple(cfg.data.scale),
        flip_prob=cfg.data.flip_prob,
        seed=cfg.train.seed,
        targets=targets,
        annotations=store,
        skip_bad=cfg.data.skip_bad,
    )
    if train and cfg.data.mix is not None:
        return mix_into(cfg, dataset, structure=store is not None), index
    return dataset, index


def loader_kwargs(cfg: Config) -> dict:
    workers = cfg.train.num_workers
    return {"num_workers": workers, "collate_fn": collate, "persistent_workers": False, "pin_memory": False}


def eval_loader(cfg: Config, dataset: ClipDataset) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset, batch_size=cfg.train.batch_size, shuffle=False, **loader_kwargs(cfg)
    )
