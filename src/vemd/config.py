"""Typed configuration: dataclasses are the schema, YAML files are named recipes.

A config is built from the defaults below, merged with a YAML recipe (a path, or a
name such as ``tiny`` that resolves to ``vemd/configs/tiny.yaml``), then with dotted
overrides ``KEY=VALUE`` where VALUE is parsed as YAML (``model.sr.modalities=[body,face]``,
``model.sr.projection=null``). OmegaConf checks every key and type against the schema.

Recipes inherit: a top-level ``base:`` key names one recipe or a list of them (registered
names such as ``paper/_base``, or paths relative to the recipe's folder); they are merged
first, in order, and the recipe itself last, so a table-row recipe states only what differs
from the paper-size setup it builds on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_DIR = Path(__file__).parent / "configs"

# Paper defaults for the structural loss weight β_p per decoder (SPEC §7).
PAPER_STRUCT_WEIGHT = {"heatmap": 1.0, "personquery": 0.1}
SR_NORMS = ("layernorm", "projected", "none")
OPTIMIZERS = ("adam", "adamw", "sgd")


class ConfigError(ValueError):
    """An unknown key, a wrong type or an unreadable recipe."""


@dataclass
class ViTConfig:
    # false: no ViT branch, the multitask branch alone gives the whole latent (Table 3's Custom
    # encoder experiments); such a model trains stage 2 only
    enabled: bool = True
    name: str = "vit_large_patch16_224"  # timm name; "vit_large_patch14_clip_224" as released
    pretrained: bool = False  # load timm/Hugging Face weights (needs network or hub cache)
    weights: str | None = None  # local checkpoint file, takes precedence over `pretrained`
    frozen: bool = True  # frozen after stage 1 (SPEC §3)
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra timm create_model arguments


@dataclass
class CNNConfig:
    name: str = "resnet50"  # resnet50 | resnet101 | resnet152 | custom | plain | any timm name
    pretrained: bool = False
    weights: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    custom_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024])
    plain_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 96, 128])  # name: plain


@dataclass
class SRConfig:
    modalities: list[str] = field(default_factory=lambda: ["body"])  # subset of body, face
    projection: float | None = None  # None: raw SR; else factor × latent_dim per modality
    gate: bool = True  # SR scaled by a learnable gate that starts at 0 (vemd's); false: plain concatenation
    # SR normalisation: "layernorm" (raw and projected SR, vemd's), "projected" (LayerNorm only in
    # front of the projection p, as released; raw SR concatenated as it is, as the paper), "none"
    norm: str = "layernorm"


@dataclass
class NumQueries:
    body: int = 100
    face: int = 100


@dataclass
class PersonQueryConfig:
    num_queries: NumQueries = field(default_factory=NumQueries)
    stgcn: bool = False  # ST-GCN over the predicted structures
    hidden_dim: int = 256
    num_layers: int = 3
    num_heads: int = 8


@dataclass
class HeatmapConfig:
    size: int = 56  # output grid side
    sigma: float = 2.0  # target Gaussian width in cells
    up_channels: list[int] = field(default_factory=lambda: [2048, 512, 256, 128])  # UNetResUpsample
    num_stages: int = 6  # limbs decoder stages, chained (§4.3)
    layers_per_stage: int = 5  # 3×3 convs per stage, each stage_channels → stage_channels (§4.3)
    stage_channels: int = 256  # width of the UNet output and of every stage (§4.3: 256)
    supervision: str = "all"  # all: L_p sums every stage's MSE (as released); last: last stage only


@dataclass
class EmotionConfig:
    # The paper (§3.3) gives no depth or width; these are the released code's: one transformer
    # encoder layer with one head and PyTorch's default 2048-wide feed-forward, MLP 512.
    num_layers: int = 1  # transformer encoder over frames
    num_heads: int = 1
    dropout: float = 0.1
    mlp_hidden: int = 512
    feedforward_dim: int = 2048  # transformer feed-forward width
    # φ, the per-frame latent embedding: "flatten" (linear on the whole C×s×s latent map) or
    # "pool" (linear on its spatial mean: the same cue counts wherever it is in the frame)
    phi: str = "flatten"


@dataclass
class ModelConfig:
    mode: str = "ve-md-sr"  # ve-sd | ve-md | ve-md-sr
    variational: str = "ve"  # ve (MMD) | vae (recon + KL) | vanilla
    decoder: str = "heatmap"  # heatmap | personquery
    latent_dim: int = 512  # C_e per branch; latent map has 2·latent_dim channels
    latent_size: int = 7  # latent grid side
    logvar_init: float = -4.0  # ve/vae: initial log-variance of the latent posterior (σ = e^(x/2))
    image_size: int = 224
    num_classes: int = 3
    valence_head: bool = False  # regress a group valence (B,) beside the classes (MER2023 protocol)
    vit: ViTConfig = field(default_factory=ViTConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    sr: SRConfig = field(default_factory=SRConfig)
    heatmap: HeatmapConfig = field(default_factory=HeatmapConfig)
    personquery: PersonQueryConfig = field(default_factory=PersonQueryConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)


@dataclass
class LossConfig:
    cls: float = 1.0
    body: float | None = None  # β_p1; None → paper default for the decoder
    face: float | None = None  # β_p2; None → paper default for the decoder
    mmd: float = 0.1  # β_mmd
    mmd_bandwidths: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])  # RBF σ, × sqrt(dim)
    kl: float = 0.1  # VAE variant
    recon: float = 1.0  # VAE variant
    limb: float = 1.0  # β_limb (PersonQuery)
    adj: float = 0.5  # β_adj (PersonQuery)
    valence: float = 1.0  # MSE of the valence head (model.valence_head), items with a target only

    def struct_weight(self, modality: str, decoder: str) -> float:
        value = getattr(self, modality)
        return PAPER_STRUCT_WEIGHT[decoder] if value is None else value


@dataclass
class DataConfig:
    name: str = "synth"  # synth | folder | csv | gaf3 | vgaf | dfew | mer2023 | samsemo | engagenet
    root: str = "data/synth"
    annotations: str | None = None  # annotation store; None → <root>/annotations if present
    frames: int = 5  # T frames per clip
    sampling: str = "uniform"  # uniform | fps (one frame per `frame_interval` seconds)
    frame_interval: float = 1.0
    fold: int = 1  # DFEW fold
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    augment: bool = True
    scale: list[float] = field(default_factory=lambda: [0.8, 1.0])
    flip_prob: float = 0.5
    skip_bad: bool = False
    class_names: list[str] | None = None


@dataclass
class TrainConfig:
    stage: str = "2"  # 1: ViT branch alone with CE; 2: frozen ViT + multitask; both: 1 then 2
    stage1_ckpt: str | None = None  # start stage 2 from this stage-1 checkpoint
    out_dir: str = "runs/default"
    seed: int = 0
    batch_size: int = 8
    num_workers: int = 0
    optimizer: str = "adamw"  # adam | adamw | sgd
    lr: float = 1e-4
    stage1_optimizer: str | None = None  # stage 1's optimizer; None: `optimizer`
    stage1_lr: float = 1e-5
    momentum: float = 0.9  # sgd only
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    scheduler: str = "cosine"  # cosine | none
    warmup_fraction: float = 0.0  # linear warm-up over this fraction of the steps
    max_epochs: int = 20
    stage1_epochs: int = 5
    max_steps: int = -1
    max_time_minutes: float | None = None  # stop a stage after this wall time
    checkpoint_every_n_steps: int = 50  # last.ckpt for resuming
    early_stopping_patience: int = 10
    monitor: str = "val/accuracy"
    precision: str = "32"  # 32 | bf16-mixed
    accelerator: str = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: str = "auto"
    feature_cache: bool = True  # cache frozen ViT features on disk in stage 2
    log_every_n_steps: int = 10
    deterministic: bool = True


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def resolve_recipe(name_or_path: str | Path) -> Path:
    """A recipe path as given, or a registered name under ``vemd/configs``."""
    path = Path(name_or_path)
    if path.exists():
        return path
    for candidate in (CONFIG_DIR / f"{name_or_path}.yaml", CONFIG_DIR / str(name_or_path)):
        if candidate.exists():
            return candidate
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise ConfigError(
        f"{name_or_path}: no such config file or registered recipe ({', '.join(names)}, "
        f"or paper/<dataset>/<row>: see {CONFIG_DIR / 'paper' / 'README.md'})"
    )


BASE_KEY = "base"


def _resolve_base(name: str, recipe: Path) -> Path:
    """A base named by ``recipe``: a path relative to the recipe's folder, else a registered name."""
    for candidate in (recipe.parent / name, recipe.parent / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    try:
        return resolve_recipe(name)
    except ConfigError:
        raise ConfigError(
            f"{recipe}: base {name!r} is neither a file beside it nor a registered recipe"
        ) from None


def read_recipe(path: str | Path, _chain: tuple[Path, ...] = ()):
    """The YAML of one recipe with its ``base:`` recipes merged under it (an OmegaConf DictConfig)."""
    path = Path(path)
    if path.resolve() in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise ConfigError(f"{path}: recipes inherit in a cycle ({cycle})")
    raw = OmegaConf.load(path)
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"{path}: a recipe must be a YAML mapping")
    bases = raw.pop(BASE_KEY, None)
    if bases is None:
        return raw
    names = [bases] if isinstance(bases, str) else list(bases)
    merged = OmegaConf.create({})
    for name in names:
        merged = OmegaConf.merge(
            merged, read_recipe(_resolve_base(str(name), path), (*_chain, path.resolve()))
        )
    return OmegaConf.merge(merged, raw)


def load_config(recipe: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults ← recipe YAML (after its bases) ← dotted overrides, validated against the schema."""
    merged = OmegaConf.structured(Config)
    try:
        if recipe is not None:
            path = resolve_recipe(recipe)
            merged = OmegaConf.merge(merged, read_recipe(path))
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} must be KEY=VALUE")
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([item]))
    except OmegaConfBaseException as err:
        where = f"{recipe}: " if recipe is not None else ""
        raise ConfigError(f"{where}{str(err).splitlines()[0]}") from err
    cfg: Config = OmegaConf.to_object(merged)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    m = cfg.model
    checks = [
        (
            m.mode in ("ve-sd", "ve-md", "ve-md-sr"),
            f"model.mode={m.mode!r}: expected ve-sd, ve-md or ve-md-sr",
        ),
        (
            m.variational in ("ve", "vae", "vanilla"),
            f"model.variational={m.variational!r}: expected ve, vae or vanilla",
        ),
        (
            m.decoder in ("heatmap", "personquery"),
            f"model.decoder={m.decoder!r}: expected heatmap or personquery",
        ),
        (
            bool(m.sr.modalities) and set(m.sr.modalities) <= {"body", "face"},
            f"model.sr.modalities={m.sr.modalities!r}: a non-empty list from body, face",
        ),
        (
            m.sr.norm in SR_NORMS,
            f"model.sr.norm={m.sr.norm!r}: expected one of {', '.join(SR_NORMS)}",
        ),
        (
            not (m.cnn.pretrained and m.cnn.name in ("custom", "plain")),
            f"model.cnn.pretrained=true but model.cnn.name={m.cnn.name!r} has no pretrained weights",
        ),
        (cfg.train.stage in ("1", "2", "both"), f"train.stage={cfg.train.stage!r}: expected 1, 2 or both"),
        (
            m.vit.enabled or cfg.train.stage == "2",
            f"train.stage={cfg.train.stage!r} fine-tunes the ViT branch, but model.vit.enabled=false",
        ),
        *(
            (name in OPTIMIZERS, f"train.{key}={name!r}: expected one of {', '.join(OPTIMIZERS)}")
            for key, name in (
                ("optimizer", cfg.train.optimizer),
                ("stage1_optimizer", cfg.train.stage1_optimizer),
            )
            if name is not None
        ),
        (
            cfg.train.scheduler in ("cosine", "none"),
            f"train.scheduler={cfg.train.scheduler!r}: expected cosine or none",
        ),
        (cfg.data.frames >= 1, "data.frames must be >= 1"),
        (m.num_classes >= 2, "model.num_classes must be >= 2"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def to_yaml(cfg: Config) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_dict(cfg: Config) -> dict:
    return OmegaConf.to_container(OmegaConf.structured(cfg))


def from_dict(data: dict) -> Config:
    """Rebuild a config saved with a checkpoint (unknown keys are an error)."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(data))
    except OmegaConfBaseException as err:
        raise ConfigError(str(err).splitlines()[0]) from err
    cfg = OmegaConf.to_object(merged)
    validate(cfg)
    return cfg
