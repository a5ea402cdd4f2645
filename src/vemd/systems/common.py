"""What the seed systems (the EmotiW 2020 and ABAW 2024 systems) share: a registered
:class:`SeedSystem` whose model is one module built from its config, their model file, their
splits, the frames of a split's rows, and how ``vemd test`` opens a split for them.

Both read their splits through vemd's loaders and :class:`vemd.data.dataset.ClipDataset`,
train with :func:`vemd.train.epochs.train_epochs` (resumable, exact after a kill; what a resume
must agree with is :mod:`vemd.train.resume`), and write one ``model.pt`` in vemd's model-file
format (:mod:`vemd.model_file`): config, class names, weights and buffers. Fitted scikit-learn
parts (the SVM, the random forest) are not pickled: the file holds the scores they were fitted
on and they are refitted, the same way, when the file is read.

Light to import: torch and the systems' models are imported by the functions that use them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vemd.config import Config, from_dict, to_dict, to_yaml
from vemd.model_file import CheckpointError, ModelFile, first_line, read_model_file, write_model_file
from vemd.systems.base import Artifact, Capabilities, System, TestOptions

if TYPE_CHECKING:
    import torch


class SeedSystem(System):
    """A system whose model is one ``nn.Module`` built from its config (:meth:`build`), read
    back from its model file by :func:`system_from_file`."""

    @classmethod
    def build(cls, cfg: Config, *, for_loading: bool = False, extra: dict | None = None) -> torch.nn.Module:
        """The model ``cfg`` describes (``for_loading``: no pretrained weights are fetched;
        ``extra``: the plain facts its model file keeps)."""
        raise NotImplementedError

    name: str  # how the one-line refusals of export and audit name it
    parts: str  # what it is made of, for the same lines

    @classmethod
    def outputs(cls, cfg: Config) -> Capabilities:
        """What the model gives (classes, valence, arousal, the audio it hears, its smoothing)."""
        raise NotImplementedError

    @classmethod
    def capabilities(cls, cfg: Config, path: Path) -> Capabilities:
        """:meth:`outputs`; neither export nor audit, which need a VE-MD inside."""
        return replace(
            cls.outputs(cfg),
            export=f"{path}: {cls.name} ({cls.parts}); vemd export writes VE-MD models only",
            audit=(
                f"{path}: {cls.name}, which has no VE-MD representations; vemd audit probes VE-MD "
                "and multimodal model files"
            ),
        )

    @classmethod
    def load(cls, file: ModelFile) -> Artifact:
        model, cfg, class_names = system_from_file(file, cls.build)
        return Artifact(cls, model, cfg, class_names, file.path, cls.capabilities(cfg, file.path))


def start_run(cfg: Config, *, resume: bool) -> tuple[Path, Path]:
    """The run folder and the system's stage folder under it: a resume under other settings is
    refused before anything of the run is written, then the resolved config is saved."""
    from vemd.io import atomic_write_text
    from vemd.train.resume import refuse_other_settings

    out = Path(cfg.train.out_dir)
    folder = out / cfg.system.kind
    if resume:
        refuse_other_settings(cfg, folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", to_yaml(cfg))
    return out, folder


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
        weights=[name for name, _ in model.named_parameters()],  # buffers may hold a NaN sentinel
    )


def load_system(path: str | Path):
    """(model in eval mode, config, class names) of a seed system's model file (:func:`save_system`);
    one-line CheckpointError for any other file."""
    from vemd.systems.base import SYSTEMS

    file = read_model_file(path)
    system = SYSTEMS.get(file.system)
    if system is None or not issubclass(system, SeedSystem):
        raise CheckpointError(
            f"{file.path}: not a vemd system model file of a seed system (it holds a {file.system!r} model)"
        )
    return system_from_file(file, system.build)


def system_from_file(file: ModelFile, build):
    """(model in eval mode, config, class names) of a seed system's model file; ``build(cfg,
    for_loading=True, extra=...)`` makes the module its weights are loaded into."""
    import torch

    path, state = file.path, file.state_dict
    try:
        cfg: Config = from_dict(file.config)
        class_names = [str(c) for c in file.class_names]
    except Exception as err:
        raise CheckpointError(f"{path}: bad system model file: {first_line(err)}") from err
    if cfg.system.kind != file.system:
        raise CheckpointError(
            f"{path}: bad system model file: a {file.system!r} model whose config says system.kind="
            f"{cfg.system.kind!r}"
        )
    try:
        model = build(cfg, for_loading=True, extra=file.extra)
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


def open_for_test(artifact: Artifact, options: TestOptions, *, group_sizes: bool = True):
    """``vemd test`` of a seed system starts from the common options applied
    (:func:`vemd.eval.run.open_split`) and the split's ClipDataset: (run, dataset)."""
    from vemd.eval.run import open_split

    run = open_split(artifact, options, group_sizes=group_sizes)
    dataset, _ = split_data(run.cfg, run.split, train=False)
    return run, dataset


def frames_of(dataset, rows: torch.Tensor) -> torch.Tensor:
    """(B, T, 3, S, S) uint8 frames of ``rows`` of a ClipDataset."""
    import torch

    return torch.stack([dataset[int(i)]["frames"] for i in rows])


def split_data(cfg: Config, split: str, *, train: bool):
    """The ClipDataset of a split, without structural targets (the seed systems use none)."""
    from vemd.data.build import build_dataset

    dataset, index = build_dataset(cfg, split, train=train, stage="1")
    return dataset, index
