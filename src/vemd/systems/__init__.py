"""Every kind of model vemd trains, registered by name, and the one way to open a model file.

=============  ==========================================================================
system         what it is
=============  ==========================================================================
``ve-md``      the paper's VE-MD (Figure 1): :mod:`vemd.systems.vemd`
``multimodal`` VE-MD frozen, with audio / text branches and their fusion (§7):
               :mod:`vemd.systems.multimodal`
``emotiw20``   the EmotiW 2020 audio-video group emotion system: :mod:`vemd.systems.emotiw20`
``abaw24``     the ABAW 2024 valence/arousal system: :mod:`vemd.systems.abaw24`
=============  ==========================================================================

``vemd fit`` trains the system its config names (:func:`system_for`); every consumer opens a
model file with :func:`load_artifact` and asks the :class:`~vemd.systems.base.Artifact` what it
can do. Adding a system is one folder (or file) with a :class:`~vemd.systems.base.System`
subclass decorated with :func:`~vemd.systems.base.register`, and one import line below.
"""

from __future__ import annotations

from pathlib import Path

from vemd.systems.base import SYSTEMS, Artifact, Capabilities, Clips, System, TestOptions, register

# Registration: one line per system.
from vemd.systems import vemd as _vemd  # noqa: E402, F401  isort: skip
from vemd.systems import multimodal as _multimodal  # noqa: E402, F401  isort: skip
from vemd.systems import emotiw20 as _emotiw20  # noqa: E402, F401  isort: skip
from vemd.systems import abaw24 as _abaw24  # noqa: E402, F401  isort: skip

__all__ = [
    "SYSTEMS",
    "Artifact",
    "Capabilities",
    "Clips",
    "System",
    "TestOptions",
    "evaluate",
    "fit",
    "load_artifact",
    "register",
    "system_for",
]


def system_for(cfg) -> type[System]:
    """The system ``vemd fit`` of ``cfg`` trains."""
    found = [system for system in SYSTEMS.values() if system.trains(cfg)]
    if len(found) != 1:
        from vemd.errors import ConfigError

        raise ConfigError(f"system.kind={cfg.system.kind!r}: no registered system trains this config")
    return found[0]


def fit(cfg, *, resume: bool = False, overwrite: bool = False) -> dict:
    """``vemd fit``: train the system ``cfg`` names; returns its fit summary.

    A finished run in ``train.out_dir`` (its ``model.pt``) is never trained over silently: it
    is refused, before anything is read or written, unless ``resume`` (continue it; a finished
    one trains nothing more) or ``overwrite`` (train anew in its folder) is given.
    """
    system = system_for(cfg)
    finished = Path(cfg.train.out_dir) / "model.pt"
    if finished.exists() and not (resume or overwrite):
        from vemd.errors import ConfigError

        raise ConfigError(
            f"{finished}: train.out_dir holds a finished run; give --resume to keep it, --overwrite "
            "to train over it, or --set train.out_dir=<another folder>"
        )
    return system.fit(cfg, resume=resume)


def load_artifact(path: str | Path, *, device: str | None = None) -> Artifact:
    """The model in a model file of any system and any vemd version, in eval mode (on ``device``).
    ``path`` may name a Hub model, ``hf://ORG/NAME[@REVISION]`` (:mod:`vemd.hub`).

    One-line :class:`~vemd.model_file.CheckpointError` for a file that is missing, damaged,
    foreign, of a system this version does not know, or whose weights hold NaN or inf. The
    artifact's ``caveat`` says when the model was trained on the built-in synthetic data.
    """
    from vemd.hub import resolve
    from vemd.model_file import CheckpointError, read_model_file, refuse_non_finite

    resolved = None
    if device is not None:  # a device that does not exist is the error, before the file is read
        from vemd.device import resolve_device

        resolved = resolve_device(device)
    path = resolve(path)
    file = read_model_file(path)
    system = SYSTEMS.get(file.system)
    if system is None:
        raise CheckpointError(
            f"{path}: a model of system {file.system!r}, which this vemd does not know "
            f"(known: {', '.join(sorted(SYSTEMS))})"
        )
    artifact = system.load(file)
    refuse_non_finite(path, artifact.model.named_parameters())  # buffers may hold a NaN sentinel
    artifact.caveat = file.caveat
    return artifact if resolved is None else artifact.to(resolved)


def evaluate(path: str | Path, options: TestOptions | None = None, **fields) -> dict:
    """``vemd test`` of any model file: its system's evaluation with the common options.

    ``options`` or its fields as keywords (``split``, ``out_dir``, ``data_cfg``, ``device``,
    ``precision``, ``group_sizes``, ``record``, ``save_frames``; group sizes default to the usual
    buckets, None turns them off). Only ``record=True`` changes the model card.
    """
    if options is None:
        from vemd.annotate.backends.offline_faces import face_counter
        from vemd.eval.group_size import DEFAULT_EDGES

        options = TestOptions(**{"group_sizes": DEFAULT_EDGES, "face_counter": face_counter, **fields})
    artifact = load_artifact(path, device=options.device)
    return artifact.evaluate(options)
