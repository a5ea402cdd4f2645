"""Build a VE-MD model (and its criterion) from ``cfg.model``.

Weights resolve like timm: a local file named in ``weights`` first, else the timm/Hugging Face
hub (or its local cache) when ``pretrained`` is true. Nothing touches the network unless
``pretrained`` asks for it. A backbone asked to be pretrained whose weights cannot be had stops
the build with one line naming the weights and the two ways to supply them: it is never
silently randomly initialised (``pretrained: false`` asks for random init explicitly).
``load_weights=False`` builds the architecture only, for model files that hold every weight.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from vemd.config import ConfigError, LossConfig, ModelConfig
from vemd.models.cnn_branch import CNNBranch, TimmFeatureMap
from vemd.models.criterion import VEMDCriterion
from vemd.models.custom_encoder import CustomEncoder, PlainEncoder
from vemd.models.emotion_decoder import EmotionDecoder
from vemd.models.heatmap_decoder import SUPERVISION, HeatmapDecoder, LimbsDecoder, UNetResUpsample
from vemd.models.vae_decoder import VAEDecoder
from vemd.models.variational_encoder import VariationalEncoder
from vemd.models.vemd import IMAGENET_MEAN, IMAGENET_STD, VEMD
from vemd.models.vit_branch import ViTBranch
from vemd.structure.skeleton import skeleton_for

log = logging.getLogger(__name__)


def create_timm(
    name: str, *, pretrained: bool, weights: str | None, kwargs: dict[str, Any], key: str = "model.vit"
) -> nn.Module:
    """A timm model without classifier, with weights from ``weights`` (a file), the hub, or random.

    ``key`` is the config section (``model.vit`` / ``model.cnn``) named in errors.
    """
    import timm

    kwargs = {"num_classes": 0, **kwargs}
    if weights:
        if not Path(weights).is_file():
            raise ConfigError(f"{weights}: weights file not found ({key}.weights)")
        try:  # timm reads the file weights-only (or as safetensors): a crafted pickle never runs
            model = timm.create_model(
                name, pretrained=True, pretrained_cfg_overlay={"file": weights}, **kwargs
            )
            held = set(timm.models.load_state_dict(weights))
        except Exception as err:  # torch / safetensors / load_state_dict raise several types
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            raise ConfigError(
                f"{weights}: not usable weights for {name} ({key}.weights: {type(err).__name__}"
                f"{': ' + reason if reason else ''})"
            ) from None
        # timm loads non-strictly without a classifier: a file of another architecture would
        # silently leave the backbone random
        own = list(model.state_dict())
        missing = [k for k in own if k not in held]
        if len(missing) == len(own):
            raise ConfigError(
                f"{weights}: not usable weights for {name} ({key}.weights holds none of its weights)"
            )
        if missing:
            log.warning(
                "%s: %d of %d weights of %s absent (e.g. %s)",
                weights,
                len(missing),
                len(own),
                name,
                missing[0],
            )
        return model
    if pretrained:
        try:
            return timm.create_model(name, pretrained=True, **kwargs)
        except OSError as err:  # offline, not in the hub cache, or the download failed
            raise ConfigError(
                f"{key}.name={name}: pretrained weights unavailable ({type(err).__name__}); put them in the "
                f"Hugging Face hub cache (download once online, or copy into $HF_HOME) or name a local file "
                f"in {key}.weights; {key}.pretrained=false trains from random init"
            ) from None
    return timm.create_model(name, pretrained=False, **kwargs)


def build_vit_branch(cfg: ModelConfig, *, load_weights: bool = True) -> ViTBranch:
    vit = create_timm(
        cfg.vit.name,
        pretrained=load_weights and cfg.vit.pretrained,
        weights=cfg.vit.weights if load_weights else None,
        kwargs=cfg.vit.kwargs,
        key="model.vit",
    )
    return ViTBranch(
        vit,
        latent_dim=cfg.latent_dim,
        latent_size=cfg.latent_size,
        num_classes=cfg.num_classes,
        frozen=cfg.vit.frozen,
    )


def build_cnn_branch(cfg: ModelConfig, *, load_weights: bool = True) -> CNNBranch:
    """The multitask branch: C_e = latent_dim channels, or the whole latent without a ViT branch."""
    if cfg.cnn.name == "custom":
        backbone = CustomEncoder(cfg.cnn.custom_channels)
    elif cfg.cnn.name == "plain":
        backbone = PlainEncoder(cfg.cnn.plain_channels)
    else:
        model = create_timm(
            cfg.cnn.name,
            pretrained=load_weights and cfg.cnn.pretrained,
            weights=cfg.cnn.weights if load_weights else None,
            kwargs=cfg.cnn.kwargs,
            key="model.cnn",
        )
        backbone = TimmFeatureMap(model)
    width = cfg.latent_dim if cfg.vit.enabled else 2 * cfg.latent_dim
    return CNNBranch(backbone, latent_dim=width, latent_size=cfg.latent_size)


def build_struct_decoder(cfg: ModelConfig, modality: str) -> nn.Module:
    """The heatmap or PersonQuery decoder of one SR modality."""
    skeleton = skeleton_for(modality, cfg.decoder)
    if cfg.decoder == "heatmap":
        h = cfg.heatmap
        if h.size != 8 * cfg.latent_size:
            raise ConfigError(
                f"model.heatmap.size={h.size} must be 8 × model.latent_size ({8 * cfg.latent_size})"
            )
        if h.supervision not in SUPERVISION:
            raise ConfigError(f"model.heatmap.supervision={h.supervision!r}: expected one of {SUPERVISION}")
        return HeatmapDecoder(
            UNetResUpsample(2 * cfg.latent_dim, h.stage_channels, h.up_channels),
            LimbsDecoder(h.stage_channels, skeleton.num_limbs, h.num_stages, h.layers_per_stage),
            supervision=h.supervision,
        )
    from vemd.models.personquery.decoder import PersonQueryDecoder

    pq = cfg.personquery
    return PersonQueryDecoder(
        in_channels=2 * cfg.latent_dim,
        num_limbs=skeleton.num_limbs,
        num_queries=getattr(pq.num_queries, modality),
        hidden_dim=pq.hidden_dim,
        num_layers=pq.num_layers,
        num_heads=pq.num_heads,
        stgcn=pq.stgcn,
        skeleton=skeleton,
    )


def sr_dims(cfg: ModelConfig) -> dict[str, int]:
    """Raw SR size per modality fed to the emotion decoder (empty unless ve-md-sr).

    Heatmap: one size×size map per modality; PersonQuery: 4·Q·N_limbs.
    """
    if cfg.mode != "ve-md-sr":
        return {}
    if cfg.decoder == "heatmap":
        return {m: cfg.heatmap.size**2 for m in cfg.sr.modalities}
    return {
        m: 4 * getattr(cfg.personquery.num_queries, m) * skeleton_for(m, cfg.decoder).num_limbs
        for m in cfg.sr.modalities
    }


def sr_projection_dim(cfg: ModelConfig) -> int | None:
    """C_s = factor × latent_dim, or None for raw SR."""
    return None if cfg.sr.projection is None else round(cfg.sr.projection * cfg.latent_dim)


def build_emotion_decoder(cfg: ModelConfig) -> EmotionDecoder:
    e = cfg.emotion
    return EmotionDecoder(
        latent_channels=2 * cfg.latent_dim,
        latent_size=cfg.latent_size,
        sr_dims=sr_dims(cfg),
        sr_projection=sr_projection_dim(cfg),
        num_classes=cfg.num_classes,
        num_layers=e.num_layers,
        num_heads=e.num_heads,
        feedforward_dim=e.feedforward_dim,
        dropout=e.dropout,
        mlp_hidden=e.mlp_hidden,
        valence_head=cfg.valence_head,
        phi=e.phi,
        sr_gate=cfg.sr.gate,
        sr_norm=cfg.sr.norm,
    )


def build_model(
    cfg: ModelConfig, *, inference: bool = False, load_weights: bool = True, check: bool = True
) -> VEMD:
    """The model described by ``cfg``.

    ``inference`` leaves out the training-only decoders; ``load_weights=False`` reads no
    pretrained backbone weights (neither file nor hub), for callers that load a full state dict.
    Settings that cannot make a working model are one :class:`ConfigError` line first
    (:func:`check_buildable`), unless ``check=False``: a model file's reader, whose config
    trained the model and whose weights are then checked against it one by one (the meta-device
    check imports torch._dynamo, seconds of start-up for every prediction).
    """
    if check:
        check_buildable(cfg)
    return _build_model(cfg, inference=inference, load_weights=load_weights)


_BUILDABLE: set[str] = set()  # the configs check_buildable passed in this process


def check_buildable(cfg: ModelConfig) -> None:
    """One-line ConfigError when ``cfg`` passes the schema but describes a model that cannot be
    built or run: the arithmetic no field check sees (heads that do not divide a width, a ViT
    whose ``img_size`` or patch is not ``model.image_size``'s, timm ``kwargs`` it refuses, ...).
    The whole training model is built on the meta device (no memory, no weights, no network)
    and run on one frame with every output; once per distinct config in a process."""
    import torch

    key = repr(cfg)
    if key in _BUILDABLE:
        return
    try:
        with torch.device("meta"):
            model = _build_model(cfg, inference=False, load_weights=False).eval()
            _check_vit_size(cfg, model)
            model(torch.zeros(1, 1, 3, cfg.image_size, cfg.image_size), auxiliary=True)
    except ConfigError:
        raise
    except Exception as err:  # the modules' own checks raise ValueError, AssertionError, RuntimeError, ...
        text = str(err).strip()
        reason = text.splitlines()[0][:200] if text else type(err).__name__
        raise ConfigError(f"model settings that do not make a working model: {reason}") from None
    _BUILDABLE.add(key)


def _check_vit_size(cfg: ModelConfig, model: VEMD) -> None:
    """The ViT reads frames of ``model.image_size`` (the model resizes every input to it)."""
    branch = model.encoder.vit_branch
    embed = getattr(branch.vit, "patch_embed", None) if branch is not None else None
    size = getattr(embed, "img_size", None)
    if (
        size is None
        or getattr(branch.vit, "dynamic_img_size", False)
        or not getattr(embed, "strict_img_size", True)
    ):
        return  # a ViT that takes other sizes
    if tuple(size) != (cfg.image_size, cfg.image_size):
        raise ConfigError(
            f"model.image_size={cfg.image_size} but the ViT ({cfg.vit.name}) reads {size[0]}×{size[1]} "
            f"frames: set model.vit.kwargs.img_size={cfg.image_size} (or model.image_size={size[0]})"
        )


def _build_model(cfg: ModelConfig, *, inference: bool, load_weights: bool) -> VEMD:
    training_only = inference and cfg.mode == "ve-md"
    modalities = [] if cfg.mode == "ve-sd" or training_only else cfg.sr.modalities
    encoder = VariationalEncoder(
        build_vit_branch(cfg, load_weights=load_weights) if cfg.vit.enabled else None,
        build_cnn_branch(cfg, load_weights=load_weights),
        variational=cfg.variational,
        logvar_init=cfg.logvar_init,
    )
    recon = None
    if cfg.variational == "vae" and not inference:
        recon = VAEDecoder(2 * cfg.latent_dim, cfg.latent_size, cfg.image_size)
    mean, std = pixel_stats(encoder)
    probe = None
    if cfg.latent_probe and not inference:
        probe = nn.Linear(encoder.latent_channels, cfg.num_classes)
    return VEMD(
        encoder=encoder,
        emotion_decoder=build_emotion_decoder(cfg),
        struct_decoders={m: build_struct_decoder(cfg, m) for m in modalities},
        mode=cfg.mode,
        recon_decoder=recon,
        image_size=cfg.image_size,
        pixel_mean=mean,
        pixel_std=std,
        latent_probe=probe,
    )


def pixel_stats(encoder: VariationalEncoder) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std the ViT branch expects (ImageNet, CLIP, ... from its timm config); without a
    ViT branch, those of the multitask backbone's timm config (ImageNet for vemd's own encoders)."""
    if encoder.vit_branch is not None:
        source = encoder.vit_branch.vit
    else:
        source = getattr(encoder.cnn_branch.backbone, "model", None)
    if source is None:
        return IMAGENET_MEAN, IMAGENET_STD  # no timm backbone: no timm import (over a second)
    from timm.data import resolve_data_config

    data_cfg = resolve_data_config({}, model=source)
    return tuple(data_cfg["mean"]), tuple(data_cfg["std"])


def struct_weight_dict(loss: LossConfig, decoder: nn.Module) -> dict[str, float]:
    """Weights of a structural decoder's terms inside L_p: 1 per supervised heatmap stage, or β_limb, β_adj."""
    if isinstance(decoder, HeatmapDecoder):
        return dict.fromkeys(decoder.supervised_terms, 1.0)
    return {"loss_limb": loss.limb, "loss_adj": loss.adj}


def build_criterion(loss: LossConfig, model: VEMD, decoder: str) -> VEMDCriterion:
    """The loss of ``model`` with weights from ``cfg.loss`` (paper defaults for β_p per decoder)."""
    weight_dict = {"loss_cls": loss.cls, "loss_mmd": loss.mmd, "loss_kl": loss.kl, "loss_recon": loss.recon}
    if model.emotion_decoder.valence_head is not None:
        weight_dict["loss_valence"] = loss.valence
    if model.latent_probe is not None:
        weight_dict["loss_latent_probe"] = loss.latent_probe
    weight_dict |= {f"loss_{m}": loss.struct_weight(m, decoder) for m in model.struct_decoders}
    return VEMDCriterion(
        struct_losses={m: d.loss for m, d in model.struct_decoders.items()},
        weight_dict=weight_dict,
        struct_weight_dicts={m: struct_weight_dict(loss, d) for m, d in model.struct_decoders.items()},
        variational=model.encoder.variational,
        mmd_bandwidths=tuple(loss.mmd_bandwidths),
        valence_loss=loss.valence_loss,
    )
