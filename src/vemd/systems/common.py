"""What the seed systems (the EmotiW 2020 and ABAW 2024 systems) share: their model file, their
splits, the frames of a split's rows, and what a resumed stage must agree with.

Both read their splits through vemd's loaders and :class:`vemd.data.dataset.ClipDataset`,
train with :func:`vemd.train.epochs.train_epochs` (resumable, exact after a kill), and write
one ``model.pt`` in vemd's model-file format (:mod:`vemd.model_file`): config, class names,
weights and buffers. Fitted scikit-learn parts (the SVM, the random forest) are not pickled:
the file holds the scores they were fitted on and they are refitted, the same way, when the
file is read.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vemd.config import Config, from_dict, to_dict
from vemd.model_file import CheckpointError, ModelFile, first_line, read_model_file, write_model_file

RESUMABLE = ("train.out_dir", "train.num_workers")


def save_system(model: torch.nn.Module, cfg: Config, class_names: list[str], out: str | Path) -> Path:
    """Write a seed system's model file atomically: config, class names, weights and buffers."""
    extra = model.extra_state_for_file() if hasattr(model, "extra_state_for_file") else {}
    return write_model_file(
        out,
        system=cfg.system.kind,
        config=to_dict(cfg),
        class_names=class_names,
        state_dict=model.state_dict(),
        extra=extra,
    )


def load_system(path: str | Path):
    """(system model in eval mode, config, class names) of a :func:`save_system` file."""
    return system_from_file(read_model_file(path))


def system_from_file(file: ModelFile):
    """(system model in eval mode, config, class names) of a seed system's model file."""
    path, state = file.path, file.state_dict
    try:
        cfg: Config = from_dict(file.config)
        class_names = [str(c) for c in file.class_names]
    except Exception as err:
        raise CheckpointError(f"{path}: bad system model file: {first_line(err)}") from err
    try:
        model = build_system(cfg, for_loading=True, extra=file.extra)
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: bad system model file: {first_line(err)}") from err
    for name in getattr(model, "sized_by_training", ()):  # buffers whose size training decides
        if isinstance(state.get(name), torch.Tensor):
            setattr(model, name, torch.empty_like(state[name]))
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: weights do not match the system its config describes ({first_line(err)})"
        ) from err
    model.after_loading()
    model.eval()
    return model, cfg, class_names


def build_system(cfg: Config, *, for_loading: bool = False, extra: dict | None = None) -> torch.nn.Module:
    """The model of ``cfg.system.kind`` (``for_loading``: no pretrained weights are fetched)."""
    if cfg.system.kind == "emotiw20":
        from vemd.systems.emotiw20 import EmotiW20

        return EmotiW20(cfg, for_loading=for_loading)
    if cfg.system.kind == "abaw24":
        from vemd.systems.abaw24 import ABAW24

        return ABAW24(cfg, for_loading=for_loading, extra=extra)
    raise ValueError(f"system.kind={cfg.system.kind!r} is not a seed system")


def fit_system(cfg: Config, *, resume: bool = False) -> dict:
    """``vemd fit`` of a seed system; returns its ``fit.json`` summary."""
    if resume:
        refuse_other_settings(cfg)
    if cfg.system.kind == "emotiw20":
        from vemd.systems.emotiw20 import fit_emotiw20

        return fit_emotiw20(cfg, resume=resume)
    from vemd.systems.abaw24 import fit_abaw24

    return fit_abaw24(cfg, resume=resume)


def evaluate_system(checkpoint: str | Path, **kwargs) -> dict:
    """``vemd test`` of a seed-system model file."""
    from vemd.io import load_weights_only

    kind = load_weights_only(checkpoint, mmap=True).get("system")
    if kind == "emotiw20":
        from vemd.systems.emotiw20 import evaluate_emotiw20

        return evaluate_emotiw20(checkpoint, **kwargs)
    from vemd.systems.abaw24 import evaluate_abaw24

    return evaluate_abaw24(checkpoint, **kwargs)


def refuse_other_settings(cfg: Config) -> None:
    """Stop a resume whose saved stages were trained under other settings before anything of the
    run is written (its config.yaml still describes its model.pt). Each stage's state lives in
    ``<out_dir>/<system>/<stage>/state.pt``."""
    from vemd.train.epochs import load_state

    for state in sorted((Path(cfg.train.out_dir) / cfg.system.kind).glob("*/state.pt")):
        load_state(state, stage_setting(cfg, state.parent.name))


def stage_setting(cfg: Config, stage: str) -> str:
    """What a trained stage depends on: the config but for settings that do not change training."""
    tree = to_dict(cfg)
    for key in RESUMABLE:
        section, name = key.split(".")
        tree[section].pop(name, None)
    return json.dumps({"stage": stage, "config": tree}, sort_keys=True, default=str)


def open_for_test(checkpoint, split: str | None, out_dir, data_cfg: Config | None, device):
    """What ``vemd test`` of a system starts from: (model on ``device``, config, class names,
    split, report folder, the split's ClipDataset); ``data_cfg`` replaces the data section."""
    from vemd.inference.device import resolve_device

    model, cfg, class_names = load_system(checkpoint)
    model.to(resolve_device(device))
    if data_cfg is not None:
        cfg.data = data_cfg.data
    split = split or cfg.data.test_split
    out = Path(out_dir) if out_dir is not None else Path(checkpoint).parent / f"test-{split}"
    dataset, _ = split_data(cfg, split, train=False)
    return model, cfg, class_names, split, out, dataset


def frames_of(dataset, rows: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, S, S) uint8 frames of ``rows`` of a ClipDataset."""
    return torch.stack([dataset[int(i)]["frames"] for i in rows])


def split_data(cfg: Config, split: str, *, train: bool):
    """The ClipDataset of a split, without structural targets (the seed systems use none)."""
    from vemd.data.build import build_dataset

    dataset, index = build_dataset(cfg, split, train=train, stage="1")
    return dataset, index
