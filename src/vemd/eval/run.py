"""The options of ``vemd test`` every system honours, resolved once for every evaluation.

:func:`open_split` turns a loaded model (any :class:`vemd.systems.Artifact`) and its
:class:`TestOptions` into the :class:`SplitRun` an evaluation starts from: the data override
applied, the split and report folder chosen, the model on its device, the precision's autocast
dtype and the checked group-size edges. VE-MD's, the multimodal model's and the seed systems'
evaluations all start there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vemd.card import SCORE_KEYS, add_evaluation
from vemd.config import Config


@dataclass
class TestOptions:
    """The options of ``vemd test`` that every system honours."""

    __test__ = False  # not a pytest test class

    split: str | None = None  # default: the recipe's data.test_split
    out_dir: str | Path | None = None  # default: <model folder>/test-<split>
    data_cfg: Config | None = None  # replaces the model's data section (and batch size, workers)
    device: str = "cpu"
    precision: str = "auto"
    group_sizes: tuple[int, ...] | None = None  # bucket edges of the accuracy by people per clip
    # makes the function counting faces in an RGB frame, for clips the annotation store does not
    # cover (vemd.annotate.backends.offline_faces.face_counter); None: only the store counts people
    face_counter: Callable[[], Callable] | None = None
    record: bool = False  # add the scores to the model card beside the model (else nothing there changes)
    save_frames: bool = False  # figures that show test frames (people visible) may be written


@dataclass
class SplitRun:
    """What an evaluation starts from (:func:`open_split`)."""

    model: Any  # the artifact's model, on ``device``, in eval mode
    cfg: Config  # the model's config, with ``data_cfg``'s data section where one was given
    class_names: list[str]
    split: str
    out: Path  # the report folder
    checkpoint: Path  # the model file
    device: Any  # torch.device
    dtype: Any  # the autocast dtype of ``precision`` on ``device``
    group_sizes: tuple[int, ...] | None  # checked bucket edges; None: no group-size report
    face_counter: Callable[[], Callable] | None
    record: bool = False  # ``TestOptions.record``
    save_frames: bool = False  # ``TestOptions.save_frames``

    def autocast(self):
        """A context running the model's forward passes in the ``precision`` asked for."""
        from vemd.device import autocast

        return autocast(self.device, self.dtype)

    def add_to_card(self, scores: dict, *, keys: tuple | None = SCORE_KEYS) -> None:
        """Record the ``keys`` of ``scores`` (None: all) in the model card beside the model
        (:func:`vemd.card.add_evaluation`) when ``record`` was asked; else the card stays as it is."""
        if self.record:
            add_evaluation(self.checkpoint, self.split, scores, self.out, keys=keys)


def with_data(cfg: Config, data_cfg: Config | None) -> Config:
    """``cfg`` with the data section, batch size and loader workers of ``data_cfg`` (if given)."""
    if data_cfg is not None:
        cfg.data = data_cfg.data
        cfg.train.batch_size = data_cfg.train.batch_size
        cfg.train.num_workers = data_cfg.train.num_workers
    return cfg


def open_split(artifact, options: TestOptions, *, group_sizes: bool = True) -> SplitRun:
    """The common options applied to a loaded model: ``data_cfg`` replaces its data section,
    ``split`` defaults to the recipe's ``data.test_split``, ``out_dir`` to
    ``<model folder>/test-<split>``, the model goes to ``device`` in eval mode, ``precision``
    gives the autocast dtype (:mod:`vemd.device`: bf16 on a GPU by default, fp32 on the CPU), and
    ``group_sizes`` are checked before any forward pass (a system that reports none passes
    ``group_sizes=False``)."""
    from vemd.device import autocast_dtype, resolve_device
    from vemd.eval.group_size import check_edges

    device = resolve_device(options.device)
    dtype = autocast_dtype(options.precision, device)
    edges = options.group_sizes
    edges = check_edges(edges) if group_sizes and edges is not None else None
    cfg = with_data(artifact.cfg, options.data_cfg)
    split = options.split or cfg.data.test_split
    checkpoint = Path(artifact.path)
    out = Path(options.out_dir) if options.out_dir is not None else checkpoint.parent / f"test-{split}"
    model = artifact.model.to(device).eval()
    return SplitRun(
        model,
        cfg,
        artifact.class_names,
        split,
        out,
        checkpoint,
        device,
        dtype,
        edges,
        options.face_counter,
        options.record,
        options.save_frames,
    )
