"""Where a dataset's annotation store is, which keys training reads from it, and whether they meet.

Training looks up one key per sampled frame, ``<clip_id>/<frame_index>``
(:func:`vemd.data.manifest.annotation_key`), with the clip ids of the dataset's loader and the
frame indices of its sampling (paper §4.3). A store written under other ids (a folder
annotated file by file, say) shares no key with the dataset and gives training no structural
supervision at all; :func:`no_common_key` lets ``vemd fit`` and ``vemd data check`` say so in
one line, with an example key from each side and the command that annotates the dataset.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from vemd.config import DataConfig, load_config
from vemd.data.loaders import DatasetIndex, dataset_defaults
from vemd.data.manifest import ClipRecord, annotation_key
from vemd.data.media import SourceInfo, clip_indices, probe
from vemd.errors import DataError
from vemd.structure.annotations import AnnotationStore

# The data.* keys that decide which keys a dataset's training split reads.
KEY_FIELDS = ("annotations", "train_split", "fold", "class_names", "frames", "sampling", "frame_interval")


def annotation_path(cfg: DataConfig) -> Path:
    """The store training reads: ``data.annotations``, else ``<data.root>/annotations``."""
    return Path(cfg.annotations) if cfg.annotations else Path(cfg.root) / "annotations"


def open_annotations(cfg: DataConfig) -> AnnotationStore | None:
    """The store of :func:`annotation_path`; None when ``data.annotations`` is unset and
    ``<data.root>/annotations`` does not exist (a configured store must exist)."""
    path = annotation_path(cfg)
    if cfg.annotations is None and not path.exists():
        return None
    return AnnotationStore(path)


def name_root_overrides(name: str, root: str) -> list[str]:
    """The config ``NAME ROOT`` stands for on the command line: the dataset at ROOT with its
    loader's frame sampling (``vemd data check`` and ``vemd annotate``); a set written by
    ``vemd synth`` is read with the frame count its ``dataset.json`` records."""
    from vemd.data.loaders.generic import recorded_frames

    defaults = dataset_defaults(name)
    frames = recorded_frames(root)
    return [
        f"data.name={name}",
        f"data.root={root}",
        f"data.frames={defaults['frames'] if frames is None else frames}",
        f"data.sampling={defaults['sampling']}",
        f"data.frame_interval={defaults['interval']}",
    ]


def annotate_command(cfg: DataConfig) -> str:
    """The ``vemd annotate NAME ROOT [--set ...]`` line that writes the store ``cfg`` reads."""
    plain = load_config(None, name_root_overrides(cfg.name, cfg.root)).data
    words = ["vemd", "annotate", cfg.name, str(cfg.root)]
    for key in KEY_FIELDS:
        value = getattr(cfg, key)
        if value != getattr(plain, key):
            text = f"[{','.join(value)}]" if isinstance(value, list) else str(value)
            words += ["--set", f"data.{key}={text}"]
    return shlex.join(words)


def sampled_keys(index: DatasetIndex, record: ClipRecord, info: SourceInfo | None = None) -> list[str]:
    """Distinct keys of the frames training reads for ``record`` (DataError when unreadable)."""
    info = info or probe(index.root / record.path)
    indices = clip_indices(info, index.frames, sampling=index.sampling, interval=index.interval)
    return [annotation_key(record.clip_id, i) for i in dict.fromkeys(indices)]


def mismatch_message(
    store: AnnotationStore, index: DatasetIndex, split: str, dataset_key: str, cfg: DataConfig
) -> str:
    """One line saying that ``store`` and the ``split`` of ``index`` share no key."""
    store_key = next(iter(store.keys()), None)
    example = "store is empty" if store_key is None else f"store: {store_key!r}"
    return (
        f"{store.root}: no key in common with the {split} split of {index.name} at {index.root} "
        f"({example}, dataset: {dataset_key!r}); annotate with `{annotate_command(cfg)}`"
    )


def _keys_or_none(index: DatasetIndex, record: ClipRecord) -> list[str] | None:
    try:
        return sampled_keys(index, record)
    except DataError:  # an unreadable item: the loader or data check reports it
        return None


def no_common_key(store: AnnotationStore, index: DatasetIndex, split: str, cfg: DataConfig) -> str | None:
    """:func:`mismatch_message` when no frame the split reads is in ``store``, else None.

    Only records whose clip id the store holds are probed until one matches, so a store
    that lines up costs one probe.
    """
    stored = store.keys()
    stored_clips = {key.rpartition("/")[0] for key in stored}
    for record in index.records:
        if record.clip_id in stored_clips:
            keys = _keys_or_none(index, record)
            if keys and any(key in store for key in keys):
                return None
    example = next((keys[0] for r in index.records if (keys := _keys_or_none(index, r))), None)
    return None if example is None else mismatch_message(store, index, split, example, cfg)
