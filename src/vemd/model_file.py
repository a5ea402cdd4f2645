"""The one model-file format, and its one reader.

``model.pt`` of every system is a plain dict readable with ``torch.load(weights_only=True)``
(tensors and plain containers: nothing in it runs when read)::

    {"format": "vemd-model", "format_version": 2, "vemd_version": str,
     "system": str,              # the registered system that reads it (vemd.systems)
     "config": dict,             # the resolved config it was trained with
     "class_names": list[str],
     "state_dict": {name: tensor},   # every weight, prefixed by part where the system has several
     "extra": dict,              # the system's plain facts (a VE-MD's stage, a frozen part's config)
     "training_data": dict}      # what it was trained on (training_data): the loader, synthetic or not

:func:`read_model_file` also reads the layouts of earlier versions and gives them in this one:
format 1 files of a VE-MD (``vemd-model``), of a multimodal model (``vemd-multimodal``: the
VE-MD inside, the branch weights beside it) and of a seed system (``vemd-system``), and the
Lightning checkpoints (``*.ckpt``) that ``vemd fit`` writes while it trains a VE-MD.

Every problem with a model file is one :class:`CheckpointError` line naming it: bytes that
differ from the file's CRC-32s (:func:`vemd.io.verify_zip`), a layout that is not vemd's, and,
where a model is loaded or written, weights that hold NaN or infinite values (what a run that
diverged leaves). A file without the ``training_data`` record (written before it existed, or
a fit checkpoint) has it inferred from its config's ``data`` section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vemd.errors import VemdError
from vemd.io import DamagedFile, atomic_write, load_weights_only
from vemd.version import __version__

FORMAT = "vemd-model"
FORMAT_VERSION = 2
VEMD = "ve-md"  # the system of files older than the "system" key, and of fit checkpoints
MULTIMODAL = "multimodal"
_V1_MULTIMODAL = "vemd-multimodal"
_V1_SYSTEM = "vemd-system"
_BRANCHES = ("audio", "text", "fusion")
# What vemd says wherever a model trained on the built-in data is applied (predict, the API, serve).
SYNTHETIC_CAVEAT = "trained on drawn scenes (SynthGroups), not a model of real people"
# ... and on composites of face photos (vemd synth --faces): real faces, but no real group scene.
COMPOSITES_CAVEAT = "trained on face photos composited onto drawn scenes, not on real group scenes"
# The ``format`` of the dataset.json vemd synth writes (vemd.data.loaders.generic.SYNTH_FORMAT and
# COMPOSITES_FORMAT, spelled again here: a base module imports no data layer; a test holds them equal).
_SYNTH_FORMAT = "vemd-synthgroups"
_COMPOSITES_FORMAT = "vemd-composites"


class CheckpointError(VemdError):
    """A model file that is missing, unreadable or not vemd's."""


@dataclass
class ModelFile:
    """A model file's contents in the current layout."""

    path: Path
    system: str
    config: dict
    class_names: list[str]
    state_dict: dict
    extra: dict = field(default_factory=dict)
    vemd_version: str | None = None
    training_data: dict = field(default_factory=dict)  # see training_data()

    def part(self, prefix: str) -> dict:
        """The weights under ``prefix.`` with the prefix taken off."""
        start = f"{prefix}."
        return {k[len(start) :]: v for k, v in self.state_dict.items() if k.startswith(start)}

    @property
    def caveat(self) -> str | None:
        """:data:`SYNTHETIC_CAVEAT` for a model trained on the built-in synthetic data
        (:data:`COMPOSITES_CAVEAT` on composites of face photos), else None."""
        if not self.training_data.get("synthetic"):
            return None
        return COMPOSITES_CAVEAT if self.training_data.get("source") == "composites" else SYNTHETIC_CAVEAT


def training_data(config: dict, *, look: bool = True) -> dict:
    """What a model with this config was trained on: ``{"dataset": data.name, "synthetic": bool}``,
    with ``"source": "composites"`` for composites of face photos.

    Synthetic means a dataset ``vemd synth`` made: SynthGroups' drawn scenes, or composites of
    face photos (``--faces``); the dataset root holds the ``dataset.json`` it writes (``look``:
    read at the root). A root that cannot be read, or ``look=False`` (a file written before the
    record existed), counts a ``synth`` dataset as SynthGroups. The root itself is not recorded:
    a model file shared need not tell a folder.
    """
    data = config.get("data") if isinstance(config, dict) else None
    data = data if isinstance(data, dict) else {}
    name = str(data.get("name", "synth"))
    made = _synth_format(data.get("root")) if look else None
    if made is None:
        return {"dataset": name, "synthetic": name == "synth"}
    record = {"dataset": name, "synthetic": made in (_SYNTH_FORMAT, _COMPOSITES_FORMAT)}
    return record | ({"source": "composites"} if made == _COMPOSITES_FORMAT else {})


def _synth_format(root) -> str | None:
    """The ``format`` in the dataset folder ``root``'s ``dataset.json`` ("" without one); None
    when the folder cannot be read."""
    import json

    if not isinstance(root, str) or not Path(root).is_dir():
        return None
    record = Path(root) / "dataset.json"
    if not record.is_file():
        return ""
    try:
        return str(json.loads(record.read_bytes()).get("format", ""))
    except (OSError, ValueError, AttributeError):
        return None


def non_finite(named) -> list[str]:
    """Names of the floating tensors of ``named`` (``(name, tensor)`` pairs) holding NaN or inf."""
    import torch

    return [
        name
        for name, tensor in named
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def refuse_non_finite(path: str | Path, named, *, written: bool = False) -> None:
    """One-line CheckpointError naming ``path`` when a weight of ``named`` holds NaN or inf (the
    model of a run that diverged: its labels would be noise with a confident face)."""
    named = list(named)
    bad = non_finite(named)
    if bad:
        what = "not written" if written else "unusable"
        raise CheckpointError(
            f"{path}: {what}: {len(bad)} of its {len(named)} weight tensors hold NaN or infinite values "
            f"(first: {bad[0]}), as a training run that diverged leaves them; retrain (e.g. a lower train.lr)"
        )


def write_model_file(
    path: str | Path,
    *,
    system: str,
    config: dict,
    class_names: list[str],
    state_dict: Mapping,
    extra: dict | None = None,
    weights: list[str] | None = None,
    trained_on: dict | None = None,
) -> Path:
    """Write a model file atomically (a unique temporary name, then a rename), with the record
    of its training data (``trained_on``, or :func:`training_data` of ``config``). ``weights``:
    the names in ``state_dict`` that are trained weights (default: every tensor); one holding
    NaN or inf is refused, nothing is written. Buffers left out of ``weights`` may hold NaN by
    design (a not-fitted sentinel)."""
    import torch

    path = Path(path)
    names = list(state_dict) if weights is None else weights
    refuse_non_finite(path, ((name, state_dict[name]) for name in names), written=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vemd_version": __version__,
        "system": system,
        "config": config,
        "class_names": [str(c) for c in class_names],
        "state_dict": dict(state_dict),
        "extra": dict(extra or {}),
        "training_data": dict(trained_on) if trained_on is not None else training_data(config),
    }
    atomic_write(path, lambda handle: torch.save(payload, handle))
    return path


def read_model_file(path: str | Path) -> ModelFile:
    """The contents of a model file of any vemd version; one-line CheckpointError otherwise."""
    path = Path(path)
    data = _load(path)
    if data.get("format") == FORMAT and data.get("format_version", 1) >= 2:
        file = ModelFile(
            path,
            str(data.get("system")),
            data.get("config"),
            data.get("class_names"),
            data.get("state_dict"),
            data.get("extra") if isinstance(data.get("extra"), dict) else {},
            data.get("vemd_version"),
        )
    elif data.get("format") == FORMAT:
        file = _vemd_v1(data, path)
    elif data.get("format") == _V1_MULTIMODAL:
        file = _multimodal_v1(data, path)
    elif data.get("format") == _V1_SYSTEM:
        file = ModelFile(
            path,
            str(data.get("system") or (data.get("config") or {}).get("system", {}).get("kind")),
            data.get("config"),
            data.get("class_names"),
            data.get("state_dict"),
            data.get("extra") if isinstance(data.get("extra"), dict) else {},
            data.get("vemd_version"),
        )
    elif isinstance(data.get("vemd"), dict) and isinstance(data.get("state_dict"), dict):
        meta = data["vemd"]  # a Lightning checkpoint of vemd fit: the model's weights under "model."
        prefix = "model."
        state = {k[len(prefix) :]: v for k, v in data["state_dict"].items() if k.startswith(prefix)}
        file = _vemd_v1({**meta, "state_dict": state, "vemd_version": meta.get("version")}, path)
    else:
        raise CheckpointError(f"{path}: not a vemd model file (no vemd metadata)")
    recorded = data.get("training_data")
    file.training_data = (
        dict(recorded) if isinstance(recorded, dict) else training_data(file.config, look=False)
    )
    return checked(file)


def checked(file: ModelFile) -> ModelFile:
    """``file`` if it holds a config mapping, a list of class names and a state dict of tensors."""
    import torch

    names, state, path = file.class_names, file.state_dict, file.path
    if not isinstance(file.config, dict):
        raise CheckpointError(f"{path}: damaged vemd model file (no config mapping)")
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{path}: damaged vemd model file (class_names is not a list of names)")
    if len(set(names)) != len(names):
        raise CheckpointError(f"{path}: damaged vemd model file (a class named twice in {list(names)})")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: damaged vemd model file (state_dict is not a dict of tensors)")
    file.class_names = list(names)
    return file


def first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _load(path: Path) -> dict:
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a model file (give its model.pt)")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty model file")
    try:
        data = load_weights_only(path)
    except DamagedFile as err:
        raise CheckpointError(str(err)) from None
    except Exception as err:  # torch raises several types for foreign, damaged or unsafe files
        raise CheckpointError(f"{path}: not a readable vemd model ({type(err).__name__})") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a vemd model file")
    return data


def _vemd_v1(data: dict, path: Path) -> ModelFile:
    """A VE-MD file of format 1 (or a fit checkpoint's metadata): the stage sat beside the weights."""
    return ModelFile(
        path,
        VEMD,
        data.get("config"),
        data.get("class_names"),
        data.get("state_dict"),
        {"stage": data.get("stage", "2")},
        data.get("vemd_version"),
    )


def _multimodal_v1(data: dict, path: Path) -> ModelFile:
    """A multimodal file of format 1: the VE-MD's own file inside, each branch's weights beside it."""
    video, branches = data.get("video"), data.get("branches")
    if not isinstance(video, dict):
        raise CheckpointError(f"{path}: damaged multimodal model file (no video model)")
    if not isinstance(video.get("state_dict"), dict) or not isinstance(branches, dict):
        raise CheckpointError(f"{path}: damaged multimodal model file (no weights)")
    state = {f"video.{k}": v for k, v in video["state_dict"].items()}
    for name, part in branches.items():
        if not isinstance(part, dict):
            raise CheckpointError(f"{path}: damaged multimodal model file (no {name} weights)")
        state |= {f"{name}.{k}": v for k, v in part.items()}
    extra = {
        "video": {key: video.get(key) for key in ("config", "class_names")}
        | {"stage": video.get("stage", "2")},
        "branches": sorted(branches),
        "text_dim": data.get("text_dim"),
        "audio_encoders": data.get("audio_encoders") or {},
    }
    return ModelFile(
        path, MULTIMODAL, data.get("config"), data.get("class_names"), state, extra, data.get("vemd_version")
    )
