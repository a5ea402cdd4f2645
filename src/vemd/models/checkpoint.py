"""VE-MD model files: what ``vemd fit`` exports and every consumer loads (through :mod:`vemd.systems`).

A VE-MD is stored in the one model-file format (:mod:`vemd.model_file`) as system ``ve-md``:
its config, class names, ``extra["stage"]`` and the inference weights. In ``ve-md`` mode the
structural decoders are left out (they never run at inference), as is the ``vae``
reconstruction decoder. Lightning checkpoints (``*.ckpt``) written by ``vemd fit`` load too.

Every problem is one :class:`CheckpointError` line naming the file: a config the schema
refuses, a class list whose length is not the model's output size, weights whose names or
shapes do not fit the model its config describes.
"""

from __future__ import annotations

from pathlib import Path

from vemd.config import Config, from_dict
from vemd.io import weights_digest
from vemd.model_file import (
    MULTIMODAL,
    VEMD,
    CheckpointError,
    ModelFile,
    checked,
    first_line,
    read_model_file,
    refuse_non_finite,
    write_model_file,
)
from vemd.models.vemd import STAGES, training_only_prefixes

__all__ = [
    "CheckpointError",
    "load_model",
    "load_multimodal",
    "module_state",
    "multimodal_from_file",
    "save_model",
    "save_multimodal",
    "vemd_from_file",
    "weights_digest",
]


def _inference_keys(state: dict, mode: str) -> dict:
    drop = training_only_prefixes(mode)
    return {k: v for k, v in state.items() if not k.startswith(drop)}


def save_model(source: str | Path, out: str | Path) -> Path:
    """Export a checkpoint of ``vemd fit`` as an inference ``model.pt`` (atomic)."""
    file = vemd_file(read_model_file(source))
    cfg = from_dict(file.config)
    return write_model_file(
        out,
        system=VEMD,
        config=file.config,
        class_names=file.class_names,
        state_dict=_inference_keys(file.state_dict, cfg.model.mode),
        extra={"stage": file.extra["stage"]},
    )


def load_model(path: str | Path):
    """(model in eval mode, config, class names) from ``model.pt`` or a fit checkpoint.

    The model stands alone: no pretrained weights are read (no ``model.*.weights`` file, no hub),
    whatever its saved config names, since every weight comes from the file.
    """
    return vemd_from_file(read_model_file(path))


def vemd_file(file: ModelFile) -> ModelFile:
    """``file`` if it holds a VE-MD, its config brought up to this version's keys."""
    if file.system != VEMD:
        raise CheckpointError(f"{file.path}: holds a {file.system} model, not a VE-MD")
    stage = file.extra.setdefault("stage", "2")
    if stage not in STAGES:
        raise CheckpointError(f"{file.path}: damaged vemd model file (stage {stage!r}, expected 1 or 2)")
    _upgrade(file)
    return file


def _upgrade(file: ModelFile) -> None:
    """Configs saved before a key existed get the behaviour they were trained with.

    ``model.sr.gate``: a model saved without the key is gated if its weights hold a gate.
    ``model.heatmap.deep_supervision`` became ``model.heatmap.supervision``; the limbs decoder
    of those versions had another layout, so their heatmap decoder weights cannot be loaded.
    """
    model = file.config.get("model")
    if not isinstance(model, dict):  # from_dict says what is wrong with it
        return
    sr = model.get("sr")
    if isinstance(sr, dict) and "gate" not in sr:
        sr["gate"] = any(".sr_gate." in key for key in file.state_dict)
    heatmap = model.get("heatmap")
    if isinstance(heatmap, dict) and "deep_supervision" in heatmap:
        heatmap["supervision"] = "all" if heatmap.pop("deep_supervision") else "last"
        if any(".limbs.stages." in key for key in file.state_dict):
            raise CheckpointError(
                f"{file.path}: saved by a vemd whose heatmap limbs decoder had another layout "
                "(stages fed with the previous heatmaps); retrain it with this version"
            )


def vemd_from_file(file: ModelFile):
    """(VE-MD in eval mode, config, class names) of a VE-MD model file."""
    from vemd.models.build import build_model

    file, path = vemd_file(file), file.path
    try:
        cfg: Config = from_dict(file.config)
    except Exception as err:  # ConfigError for a key or value the schema refuses, others for odd types
        raise CheckpointError(f"{path}: bad config in model file: {first_line(err)}") from err
    class_names = list(file.class_names)
    if len(class_names) != cfg.model.num_classes:
        raise CheckpointError(
            f"{path}: {len(class_names)} class names {class_names} but model.num_classes="
            f"{cfg.model.num_classes} outputs"
        )
    try:
        # the file holds every weight, checked below: no meta-device check (torch._dynamo, seconds)
        model = build_model(cfg.model, inference=True, load_weights=False, check=False)
    except Exception as err:
        raise CheckpointError(f"{path}: bad config in model file: {first_line(err)}") from err
    state = _inference_keys(file.state_dict, cfg.model.mode)
    expected = model.state_dict()
    for key, value in state.items():
        if key in expected and value.shape != expected[key].shape:
            raise CheckpointError(
                f"{path}: weights do not fit the model its config describes: {key} has shape "
                f"{tuple(value.shape)} in the file, {tuple(expected[key].shape)} in the model"
            )
    missing, unexpected = model.load_state_dict(state, strict=False)
    stage = file.extra["stage"]
    if stage == "1":  # a stage-1 model: only the ViT branch is trained
        missing = [k for k in missing if k.startswith("encoder.vit_branch.")]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model its config describes "
            f"({len(missing)} missing, {len(unexpected)} unexpected, e.g. {(missing or unexpected)[0]})"
        )
    refuse_non_finite(path, model.named_parameters())
    model.stage = stage
    model.eval()
    return model, cfg, class_names


def module_state(path: str | Path) -> dict:
    """Weights of a checkpoint keyed for :class:`vemd.train.module.VEMDModule` (``model.`` prefix)."""
    return {f"model.{k}": v for k, v in vemd_file(read_model_file(path)).state_dict.items()}


def save_multimodal(
    model, cfg: Config, class_names: list[str], out: str | Path, *, video_path: str | Path
) -> Path:
    """Write a multimodal model (paper §7; atomic): the frozen VE-MD's weights and facts, the trained
    branch and fusion weights, and the identity of any frozen pretrained audio encoder (their weights
    stay in their own files: :func:`multimodal_from_file` reads them from the same place)."""
    from vemd.config import to_dict

    video = vemd_file(read_model_file(video_path))
    audio = model.audio
    trained = {
        name: (part.trainable_state() if hasattr(part, "trainable_state") else part.state_dict())
        for name, part in (("audio", audio), ("text", model.text), ("fusion", model.fusion))
        if part is not None
    }
    encoders = (
        {} if audio is None or audio.trains_encoder else {k: e.encoder_id for k, e in audio.encoders.items()}
    )
    state = {f"video.{k}": v for k, v in video.state_dict.items()}
    for name, part in trained.items():
        state |= {f"{name}.{k}": v for k, v in part.items()}
    extra = {
        "video": {"config": video.config, "class_names": video.class_names, "stage": video.extra["stage"]},
        "branches": sorted(trained),
        "text_dim": None if model.text is None else model.text.text_dim,
        "audio_encoders": encoders,
    }
    return write_model_file(
        out, system=MULTIMODAL, config=to_dict(cfg), class_names=class_names, state_dict=state, extra=extra
    )


def load_multimodal(path: str | Path):
    """(multimodal model in eval mode, config, class names) of a :func:`save_multimodal` file."""
    return multimodal_from_file(read_model_file(path))


def multimodal_from_file(file: ModelFile):
    """(multimodal model in eval mode, config, class names) of a multimodal model file.

    Frozen pretrained audio encoders are loaded from the names their config gives (the cache or
    a folder); one whose weights differ from those the model was trained with is refused.
    """
    from vemd.models.multimodal import MultimodalVEMD

    path = file.path
    if file.system != MULTIMODAL:
        raise CheckpointError(f"{path}: holds a {file.system} model, not a multimodal one")
    inner = file.extra.get("video")
    if not isinstance(inner, dict):
        raise CheckpointError(f"{path}: damaged multimodal model file (no video model)")
    video_file = ModelFile(
        path,
        VEMD,
        inner.get("config"),
        inner.get("class_names"),
        file.part("video"),
        {"stage": inner.get("stage")},
    )
    video, _, class_names = vemd_from_file(checked(video_file))
    try:
        cfg: Config = from_dict(file.config)
    except Exception as err:
        raise CheckpointError(f"{path}: bad config in model file: {first_line(err)}") from err
    model = MultimodalVEMD(cfg, video, text_dim=file.extra.get("text_dim"))
    stored = set(file.extra.get("branches") or ())
    for name, part in (("audio", model.audio), ("text", model.text), ("fusion", model.fusion)):
        if part is None:
            continue
        if name not in stored:
            raise CheckpointError(f"{path}: damaged multimodal model file (no {name} weights)")
        missing, unexpected = part.load_state_dict(file.part(name), strict=False)
        if hasattr(part, "trainable_state"):
            missing = [k for k in missing if not k.startswith("branch.encoders.")]
        if missing or unexpected:
            raise CheckpointError(
                f"{path}: {name} weights do not match the model its config describes "
                f"({len(missing)} missing, {len(unexpected)} unexpected)"
            )
    for kind, expected in (file.extra.get("audio_encoders") or {}).items():
        found = model.audio.encoders[kind].encoder_id
        if found != expected:
            raise CheckpointError(
                f"{path}: its {kind} audio encoder is not the one it was trained with "
                f"({found} here, {expected} in the file); supply the same weights"
            )
    model.eval()
    return model, cfg, class_names
