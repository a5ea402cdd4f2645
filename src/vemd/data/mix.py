"""Clips of a second dataset mixed into a training split (``data.mix``, ``data.mix_fraction``).

The authors' EmotiW 2023 system (the VE-MD paper's ref. [4], whose synthetic-video pretraining
§5.3 reuses) trains on its target data with 30 % synthetic videos. ``data.mix`` names such a
dataset in the generic layout (``vemd synth --faces`` composites, or SynthGroups) and
``data.mix_fraction`` = f the share of the training items it makes up: round(f / (1 - f) × n)
of its training clips join the n of the target, drawn once per run from ``train.seed`` (all of
them, with a warning, when it has fewer). Validation and test stay the target's alone.

Labels are matched by class name, so the mix's classes must be among the target's. Its clips
are read as the target's are (frames per clip, image size, augmentation, structural targets),
from their own folder and annotation store; they come out with ``mix:`` before their clip id
and their position in the mixed set as index, so that nothing keyed by clip id (the ViT
feature cache) takes one for a target clip of the same name.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from torch.utils.data import ConcatDataset

from vemd.config import Config, ConfigError
from vemd.data.coverage import open_annotations
from vemd.data.dataset import ClipDataset, Skipped, annotated_clip_ids
from vemd.data.loaders import load_index

log = logging.getLogger(__name__)
MIX_PREFIX = "mix:"


class MixedDataset(ConcatDataset):
    """The target's training clips, then the mixed-in ones (their clip ids prefixed)."""

    def __init__(self, target: ClipDataset, mix: ClipDataset) -> None:
        super().__init__([target, mix])
        self.class_names = target.class_names

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict | Skipped:
        sample = super().__getitem__(index)
        if index < len(self.datasets[0]) or isinstance(sample, Skipped):
            return sample
        return {**sample, "clip_id": MIX_PREFIX + sample["clip_id"], "index": index}


def mix_count(num_target: int, fraction: float) -> int:
    """How many mixed-in clips make ``fraction`` of a training set holding ``num_target`` target clips."""
    return round(fraction / (1 - fraction) * num_target)


def mix_into(cfg: Config, target: ClipDataset, *, structure: bool) -> MixedDataset:
    """``target`` with the clips of ``cfg.data.mix`` mixed in; ``structure``: the mode trains the
    structural decoders, so the mix needs its annotation store (un-annotated clips are left out)."""
    data = replace(cfg.data, name="synth", root=cfg.data.mix, annotations=None, train_split="train")
    index = load_index(data, "train")
    foreign = sorted(set(index.class_names) - set(target.class_names))
    if foreign:
        raise ConfigError(
            f"data.mix={cfg.data.mix}: classes {foreign} are not among the target's {target.class_names}"
        )
    records, store = index.records, None
    if structure:
        store = open_annotations(data)
        if store is None:
            raise ConfigError(
                f"data.mix={cfg.data.mix}: no annotation store at {index.root / 'annotations'}, and "
                f"model.mode={cfg.model.mode} trains structural decoders on every clip"
            )
        annotated = annotated_clip_ids(store)
        records = [r for r in records if r.clip_id in annotated]
    wanted = mix_count(len(target), cfg.data.mix_fraction)
    if wanted > len(records):
        log.warning(
            "data.mix=%s: %d training clips, fewer than the %d that make %.0f %% of the training set; "
            "all are mixed in (%.1f %%)",
            cfg.data.mix,
            len(records),
            wanted,
            100 * cfg.data.mix_fraction,
            100 * len(records) / (len(records) + len(target)),
        )
        wanted = len(records)
    picks = np.random.default_rng([cfg.train.seed, 0x6D6978]).choice(len(records), wanted, replace=False)
    chosen = [records[i] for i in sorted(picks.tolist())]
    log.info("data.mix=%s: %d clips mixed into %d training clips", cfg.data.mix, len(chosen), len(target))
    mix = replace(target, records=chosen, root=index.root, sampling="uniform", annotations=store)
    return MixedDataset(target, mix)
