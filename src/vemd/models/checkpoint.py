"""Model files: what ``vemd fit`` exports and ``vemd test``/``predict`` load.

``model.pt`` is a plain dict readable with ``torch.load(weights_only=True)``::

    {"format": "vemd-model", "format_version": 1, "vemd_version": str,
     "config": dict, "class_names": list[str], "stage": str, "state_dict": {name: tensor}}

The state dict holds inference weights only: in ``ve-md`` mode the structural decoders
are left out (they never run at inference), as is the ``vae`` reconstruction decoder.
Lightning checkpoints (``*.ckpt``) written by ``vemd fit`` load too.

Every problem with a model file is one :class:`CheckpointError` line naming it: missing, a
folder, empty, damaged or foreign bytes (nothing in it is executed: weights only), a config
the schema refuses, a class list whose length is not the model's output size, weights whose
names or shapes do not fit the model its config describes.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch

from vemd import __version__
from vemd.config import Config, from_dict
from vemd.errors import VemdError
from vemd.models.vemd import STAGES
from vemd.structure.annotations import atomic_write

MODEL_FORMAT = "vemd-model"
MULTIMODAL_FORMAT = "vemd-multimodal"  # a frozen VE-MD with audio / text branches and their fusion


class CheckpointError(VemdError):
    """A model file that is missing, unreadable or not vemd's."""


def load_weights_only(path: str | Path, *, mmap: bool = False):
    """``torch.load`` that unpickles tensors and plain containers only (never runs code).

    torch's own warnings about the file (a plain pickle's protocol, ...) are silenced: a file
    it refuses is reported by the caller, on one line naming it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _read(path: str | Path) -> dict:
    """The VE-MD part of a model file: its config, class names, stage and weights."""
    return _vemd_part(_load_file(path), Path(path))


def _load_file(path: str | Path) -> dict:
    """The dict a model file holds, read weights-only; one-line CheckpointError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a model file (give its model.pt)")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty model file")
    try:
        data = load_weights_only(path)
    except Exception as err:  # torch raises several types for foreign, damaged or unsafe files
        raise CheckpointError(f"{path}: not a readable vemd model ({type(err).__name__})") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a vemd model file")
    return data


def _vemd_part(data: dict, path: Path) -> dict:
    if data.get("format") == MODEL_FORMAT:
        return _upgrade(_checked(data, path), path)
    if data.get("format") == MULTIMODAL_FORMAT:
        if not isinstance(data.get("video"), dict):
            raise CheckpointError(f"{path}: damaged multimodal model file (no video model)")
        return _upgrade(_checked(data["video"], path), path)
    if isinstance(data.get("vemd"), dict) and isinstance(data.get("state_dict"), dict):
        meta = data["vemd"]  # a Lightning checkpoint of vemd fit
        prefix = "model."
        state = {k[len(prefix) :]: v for k, v in data["state_dict"].items() if k.startswith(prefix)}
        merged = {**meta, "state_dict": state, "vemd_version": meta.get("version")}
        return _upgrade(_checked(merged, path), path)
    raise CheckpointError(f"{path}: not a vemd model file (no vemd metadata)")


def _checked(data: dict, path: Path) -> dict:
    """``data`` if it holds a config mapping, a list of class names and a state dict of tensors."""
    names = data.get("class_names")
    state = data.get("state_dict")
    if not isinstance(data.get("config"), dict):
        raise CheckpointError(f"{path}: damaged vemd model file (no config mapping)")
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{path}: damaged vemd model file (class_names is not a list of names)")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: damaged vemd model file (state_dict is not a dict of tensors)")
    if data.get("stage", "2") not in STAGES:
        raise CheckpointError(
            f"{path}: damaged vemd model file (stage {data.get('stage')!r}, expected 1 or 2)"
        )
    return data


def _upgrade(data: dict, path: Path) -> dict:
    """Configs saved before a key existed get the behaviour they were trained with.

    ``model.sr.gate``: a model saved without the key is gated if its weights hold a gate.
    ``model.heatmap.deep_supervision`` became ``model.heatmap.supervision``; the limbs decoder
    of those versions had another layout, so their heatmap decoder weights cannot be loaded.
    """
    model = data["config"].get("model")
    if not isinstance(model, dict):  # from_dict says what is wrong with it
        return data
    sr = model.get("sr")
    if isinstance(sr, dict) and "gate" not in sr:
        sr["gate"] = any(".sr_gate." in key for key in data["state_dict"])
    heatmap = model.get("heatmap")
    if isinstance(heatmap, dict) and "deep_supervision" in heatmap:
        heatmap["supervision"] = "all" if heatmap.pop("deep_supervision") else "last"
        if any(".limbs.stages." in key for key in data["state_dict"]):
            raise CheckpointError(
                f"{path}: saved by a vemd whose heatmap limbs decoder had another layout "
                "(stages fed with the previous heatmaps); retrain it with this version"
            )
    return data


def _inference_keys(state: dict, mode: str) -> dict:
    drop = ("recon_decoder.",) + (("struct_decoders.",) if mode == "ve-md" else ())
    return {k: v for k, v in state.items() if not k.startswith(drop)}


def save_model(source: str | Path, out: str | Path) -> Path:
    """Export a checkpoint of ``vemd fit`` as an inference ``model.pt`` (atomic)."""
    data = _read(source)
    cfg = from_dict(data["config"])
    payload = {
        "format": MODEL_FORMAT,
        "format_version": 1,
        "vemd_version": __version__,
        "config": data["config"],
        "class_names": list(data["class_names"]),
        "stage": data.get("stage", "2"),
        "state_dict": _inference_keys(data["state_dict"], cfg.model.mode),
    }
    out = Path(out)
    atomic_write(out, lambda handle: torch.save(payload, handle))  # a unique temporary name, the umask
    return out


def load_model(path: str | Path):
    """(model in eval mode, config, class names) from ``model.pt`` or a fit checkpoint.

    The model stands alone: no pretrained weights are read (no ``model.*.weights`` file, no hub),
    whatever its saved config names, since every weight comes from the file.
    """
    return _model_from(_read(path), Path(path))


def _model_from(data: dict, path: Path):
    """(model in eval mode, config, class names) of a VE-MD part read by :func:`_read`."""
    from vemd.models.build import build_model

    try:
        cfg: Config = from_dict(data["config"])
    except Exception as err:  # ConfigError for a key or value the schema refuses, others for odd types
        raise CheckpointError(f"{path}: bad config in model file: {_first_line(err)}") from err
    class_names = list(data["class_names"])
    if len(class_names) != cfg.model.num_classes:
        raise CheckpointError(
            f"{path}: {len(class_names)} class names {class_names} but model.num_classes="
            f"{cfg.model.num_classes} outputs"
        )
    try:
        model = build_model(cfg.model, inference=True, load_weights=False)  # the file holds every weight
    except Exception as err:
        raise CheckpointError(f"{path}: bad config in model file: {_first_line(err)}") from err
    state = _inference_keys(data["state_dict"], cfg.model.mode)
    expected = model.state_dict()
    for key, value in state.items():
        if key in expected and value.shape != expected[key].shape:
            raise CheckpointError(
                f"{path}: weights do not fit the model its config describes: {key} has shape "
                f"{tuple(value.shape)} in the file, {tuple(expected[key].shape)} in the model"
            )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if data.get("stage") == "1":  # a stage-1 model: only the ViT branch is trained
        missing = [k for k in missing if k.startswith("encoder.vit_branch.")]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model its config describes "
            f"({len(missing)} missing, {len(unexpected)} unexpected, e.g. {(missing or unexpected)[0]})"
        )
    model.stage = data.get("stage", "2")
    model.eval()
    return model, cfg, class_names


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def module_state(path: str | Path) -> dict:
    """Weights of a checkpoint keyed for :class:`vemd.train.module.VEMDModule` (``model.`` prefix)."""
    return {f"model.{k}": v for k, v in _read(path)["state_dict"].items()}


def is_multimodal(path: str | Path) -> bool:
    """Whether ``path`` holds a multimodal model (:func:`save_multimodal`); False for anything else."""
    try:
        data = load_weights_only(path, mmap=True)
    except Exception:  # not a model file at all: load_model says what is wrong with it
        return False
    return isinstance(data, dict) and data.get("format") == MULTIMODAL_FORMAT


def save_multimodal(
    model, cfg: Config, class_names: list[str], out: str | Path, *, video_path: str | Path
) -> Path:
    """Write a multimodal model (atomic): the frozen VE-MD's model file inside, the trained branch
    and fusion weights, and the identity of any frozen pretrained audio encoder (their weights
    stay in their own files: :func:`load_multimodal` reads them from the same place)."""
    from vemd.config import to_dict

    video = _read(video_path)
    audio = model.audio
    trained = {
        name: (part.trainable_state() if hasattr(part, "trainable_state") else part.state_dict())
        for name, part in (("audio", audio), ("text", model.text), ("fusion", model.fusion))
        if part is not None
    }
    encoders = (
        {} if audio is None or audio.trains_encoder else {k: e.encoder_id for k, e in audio.encoders.items()}
    )
    payload = {
        "format": MULTIMODAL_FORMAT,
        "format_version": 1,
        "vemd_version": __version__,
        "config": to_dict(cfg),
        "class_names": list(class_names),
        "video": {key: video[key] for key in ("config", "class_names", "stage", "state_dict")},
        "branches": {name: dict(state) for name, state in trained.items()},
        "text_dim": None if model.text is None else model.text.text_dim,
        "audio_encoders": encoders,
    }
    out = Path(out)
    atomic_write(out, lambda handle: torch.save(payload, handle))
    return out


def load_multimodal(path: str | Path):
    """(multimodal model in eval mode, config, class names) from a :func:`save_multimodal` file.

    Frozen pretrained audio encoders are loaded from the names their config gives (the cache or
    a folder); one whose weights differ from those the model was trained with is refused.
    """
    from vemd.models.multimodal import MultimodalVEMD

    path = Path(path)
    data = _load_file(path)  # read once: the VE-MD inside may be large
    video, _, class_names = _model_from(_vemd_part(data, path), path)
    try:
        cfg: Config = from_dict(data["config"])
    except Exception as err:
        raise CheckpointError(f"{path}: bad config in model file: {_first_line(err)}") from err
    model = MultimodalVEMD(cfg, video, text_dim=data.get("text_dim"))
    branches = data.get("branches", {})
    for name, part in (("audio", model.audio), ("text", model.text), ("fusion", model.fusion)):
        if part is None:
            continue
        state = branches.get(name)
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: damaged multimodal model file (no {name} weights)")
        missing, unexpected = part.load_state_dict(state, strict=False)
        if hasattr(part, "trainable_state"):
            missing = [k for k in missing if not k.startswith("branch.encoders.")]
        if missing or unexpected:
            raise CheckpointError(
                f"{path}: {name} weights do not match the model its config describes "
                f"({len(missing)} missing, {len(unexpected)} unexpected)"
            )
    for kind, expected in (data.get("audio_encoders") or {}).items():
        found = model.audio.encoders[kind].encoder_id
        if found != expected:
            raise CheckpointError(
                f"{path}: its {kind} audio encoder is not the one it was trained with "
                f"({found} here, {expected} in the file); supply the same weights"
            )
    model.eval()
    return model, cfg, class_names
