"""Build a VE-MD model (and its criterion) from ``cfg.model``.

Weights resolve like timm: a local file named in ``weights`` first, else the timm/Hugging Face
hub when ``pretrained`` is true. Nothing touches the network unless ``pretrained`` asks for it;
if the hub cannot be reached the backbone is randomly initialised, with one warning.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from torch import nn

from vemd.config import ConfigError, LossConfig, ModelConfig
from vemd.models.cnn_branch import CNNBranch, TimmFeatureMap
from vemd.models.criterion import VEMDCriterion
from vemd.models.custom_encoder import CustomEncoder, PlainEncoder
from vemd.models.emotion_decoder import EmotionDecoder
from vemd.models.heatmap_decoder import HeatmapDecoder, LimbsDecoder, UNetResUpsample
from vemd.models.vae_decoder import VAEDecoder
from vemd.models.variational_encoder import VariationalEncoder
from vemd.models.vemd import VEMD
from vemd.models.vit_branch import ViTBranch
from vemd.structure.skeleton import skeleton_for

_WARNED: set[str] = set()


def create_timm(name: str, *, pretrained: bool, weights: str | None, kwargs: dict[str, Any]) -> nn.Module:
    """A timm model without classifier, with weights from ``weights`` (a file), the hub, or random."""
    import timm

    kwargs = {"num_classes": 0, **kwargs}
    if weights:
        if not Path(weights).is_file():
            raise ConfigError(f"{weights}: weights file not found (model.*.weights)")
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": weights}, **kwargs)
    if pretrained:
        try:
            return timm.create_model(name, pretrained=True, **kwargs)
        except OSError as err:
            if name not in _WARNED:
                _WARNED.add(name)
                warnings.warn(
                    f"{name}: pretrained weights unavailable ({type(err).__name__}); RANDOMLY INITIALISED. "
                    "Name a local file in model.vit.weights / model.cnn.weights or connect to the hub.",
                    stacklevel=3,
                )
    return timm.create_model(name, pretrained=False, **kwargs)


def build_vit_branch(cfg: ModelConfig) -> ViTBranch:
    vit = create_timm(
        cfg.vit.name, pretrained=cfg.vit.pretrained, weights=cfg.vit.weights, kwargs=cfg.vit.kwargs
    )
    return ViTBranch(
        vit,
        latent_dim=cfg.latent_dim,
        latent_size=cfg.latent_size,
        num_classes=cfg.num_classes,
        frozen=cfg.vit.frozen,
    )


def build_cnn_branch(cfg: ModelConfig) -> CNNBranch:
    if cfg.cnn.name == "custom":
        backbone = CustomEncoder(cfg.cnn.custom_channels)
    elif cfg.cnn.name == "plain":
        backbone = PlainEncoder(cfg.cnn.plain_channels)
    else:
        model = create_timm(
            cfg.cnn.name, pretrained=cfg.cnn.pretrained, weights=cfg.cnn.weights, kwargs=cfg.cnn.kwargs
        )
        backbone = TimmFeatureMap(model)
    return CNNBranch(backbone, latent_dim=cfg.latent_dim, latent_size=cfg.latent_size)


def build_struct_decoder(cfg: ModelConfig, modality: str) -> nn.Module:
    """The heatmap or PersonQuery decoder of one SR modality."""
    skeleton = skeleton_for(modality, cfg.decoder)
    if cfg.decoder == "heatmap":
        h = cfg.heatmap
        if h.size != 8 * cfg.latent_size:
            raise ConfigError(
                f"model.heatmap.size={h.size} must be 8 × model.latent_size ({8 * cfg.latent_size})"
            )
        return HeatmapDecoder(
            UNetResUpsample(2 * cfg.latent_dim, h.stage_channels, h.up_channels),
            LimbsDecoder(h.stage_channels, skeleton.num_limbs, h.num_stages, h.layers_per_stage),
            deep_supervision=h.deep_supervision,
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
    )


def build_model(cfg: ModelConfig, *, inference: bool = False) -> VEMD:
    """The model described by ``cfg``; ``inference`` leaves out the training-only decoders."""
    training_only = inference and cfg.mode == "ve-md"
    modalities = [] if cfg.mode == "ve-sd" or training_only else cfg.sr.modalities
    encoder = VariationalEncoder(
        build_vit_branch(cfg), build_cnn_branch(cfg), variational=cfg.variational, logvar_init=cfg.logvar_init
    )
    recon = None
    if cfg.variational == "vae" and not inference:
        recon = VAEDecoder(2 * cfg.latent_dim, cfg.latent_size, cfg.image_size)
    return VEMD(
        encoder=encoder,
        emotion_decoder=build_emotion_decoder(cfg),
        struct_decoders={m: build_struct_decoder(cfg, m) for m in modalities},
        mode=cfg.mode,
        recon_decoder=recon,
    )


def build_criterion(loss: LossConfig, model: VEMD, decoder: str) -> VEMDCriterion:
    """The loss of ``model`` with weights from ``cfg.loss`` (paper defaults for β_p per decoder)."""
    return VEMDCriterion(
        struct_losses={m: d.loss for m, d in model.struct_decoders.items()},
        struct_weights={m: loss.struct_weight(m, decoder) for m in model.struct_decoders},
        term_weights={"loss_heatmap": 1.0, "loss_limb": loss.limb, "loss_adj": loss.adj},
        variational=model.encoder.variational,
        cls_weight=loss.cls,
        mmd_weight=loss.mmd,
        mmd_bandwidths=tuple(loss.mmd_bandwidths),
        kl_weight=loss.kl,
        recon_weight=loss.recon,
    )
