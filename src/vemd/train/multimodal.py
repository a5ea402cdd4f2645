"""``vemd fit`` with ``multimodal.enabled``: VE-MD frozen, its audio / text branches, their fusion (paper §7).

Stages, in ``train.out_dir``::

    video/                 the vision stages' run, when multimodal.video_model is not given
    multimodal/features/   the frozen VE-MD's features of each split (safetensors)
    multimodal/audio/      the audio branch trained alone (state.pt: resumable, best weights)
    multimodal/text/       the text branch trained alone
    multimodal/fusion/     the fusion trained on the frozen branches' outputs
    model.pt               the multimodal model (the video model's weights inside)
    fit.json               validation accuracy of each modality alone and fused

Each branch and the fusion are trained with Adam and cross-entropy (§7.1.3) for at most
``branch_epochs`` / ``fusion_epochs``, keeping the weights of the best validation accuracy
(early stopping after ``early_stopping_patience`` epochs without a better one). A stage saves
its state after every epoch (atomically); ``--resume`` goes on from it, and because each epoch's
shuffle and dropout draw from a generator seeded by (seed, stage, epoch), a killed and resumed
run ends with the weights of an uninterrupted one. Stages that are done are not trained again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import nn

from vemd.config import Config, ConfigError, StageTrainConfig, to_yaml
from vemd.data.multimodal import SplitInputs, split_inputs
from vemd.errors import VemdError
from vemd.io import atomic_write_text
from vemd.models.checkpoint import load_model
from vemd.models.multimodal import Features, FrozenVideo, MultimodalVEMD, audio_lengths
from vemd.models.text import text_source
from vemd.train.epochs import train_epochs
from vemd.train.resume import stage_setting

log = logging.getLogger(__name__)

# a branch trains the same whatever fuses it afterwards
FUSION_SETTINGS = ("multimodal.fusion", "multimodal.fusion_epochs")
STAGE_IDS = {"audio": 1, "text": 2, "fusion": 3}


def fit_multimodal(cfg: Config, *, resume: bool = False, video_model: str | Path | None = None) -> dict:
    """Train the branches and their fusion over a frozen VE-MD; returns the ``fit.json`` summary."""
    from vemd.models.checkpoint import save_multimodal

    mm = cfg.multimodal
    out_dir = Path(cfg.train.out_dir)
    video_path = Path(video_model or mm.video_model)
    video, video_cfg, class_names = load_model(video_path)
    if video.stage != "2":
        raise ConfigError(f"{video_path}: a stage-1 model; the multimodal branches need a stage-2 VE-MD")
    if video_cfg.model.num_classes != cfg.model.num_classes:
        raise ConfigError(
            f"{video_path}: {video_cfg.model.num_classes} classes, but model.num_classes={cfg.model.num_classes}"
        )
    cfg.model = video_cfg.model  # the multimodal model is this VE-MD's: one model section
    folder = out_dir / "multimodal"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.yaml", to_yaml(cfg))
    torch.manual_seed(cfg.train.seed)
    source = text_source(cfg) if mm.text.enabled else None
    model = MultimodalVEMD(cfg, video, text_dim=source.dim if source is not None else None)
    splits = {
        name: split_inputs(
            cfg,
            getattr(cfg.data, f"{name}_split"),
            FrozenVideo(video),
            video_cfg,
            folder=folder / "features",
            text_source=source,
        )
        for name in ("train", "val")
    }
    log.info("multimodal: %d training, %d validation clips", len(splits["train"]), len(splits["val"]))
    scores = {"video": accuracy(splits["val"].video.logits, splits["val"].labels)}
    features = {name: {"video": s.video} for name, s in splits.items()}
    if model.audio is not None:
        scores["audio"] = _train_branch("audio", model, splits, features, cfg, folder, resume)
    if model.text is not None:
        scores["text"] = _train_branch("text", model, splits, features, cfg, folder, resume)
    scores["fused"] = _train_fusion(model, splits, features, cfg, folder, resume)
    model_path = save_multimodal(model, cfg, class_names, out_dir / "model.pt", video_path=video_path)
    summary = {
        "model": str(model_path),
        "video_model": str(video_path),
        "monitor": "val/accuracy",
        "val_accuracy": scores,
        "best_val_score": scores["fused"],
        "sizes": {name: len(s) for name, s in splits.items()},
        "counts": {name: s.counts for name, s in splits.items()},
    }
    atomic_write_text(out_dir / "fit.json", json.dumps(summary, indent=2))
    _write_card(cfg, model_path, class_names, summary)
    return summary


def _write_card(cfg: Config, model_path: Path, class_names: list[str], summary: dict) -> None:
    """``MODEL_CARD.md`` beside the multimodal ``model.pt``: the video card's facts, the branches,
    and the fused validation score the fusion was selected on."""
    from vemd.card import fit_facts, write_model_card
    from vemd.eval.metrics import wilson_interval

    n_val, score = summary["sizes"]["val"], summary["best_val_score"]
    validation = {"monitor": "val/accuracy", "score": score, "checkpoint": str(model_path)}
    validation["ci95"] = list(wilson_interval(round(score * n_val), n_val))
    sizes = {cfg.data.train_split: summary["sizes"]["train"], cfg.data.val_split: n_val}
    facts = fit_facts(cfg, class_names, sizes=sizes, validation=validation)
    mm = cfg.multimodal
    facts["multimodal"] = {
        "audio_encoder": mm.audio.encoder,
        "audio_seconds": mm.audio.max_seconds,
        "text": mm.text.enabled,
        "fusion": mm.fusion.kind,
        "modalities": list(mm.fusion.modalities),
        "val_accuracy": summary["val_accuracy"],
    }
    write_model_card(model_path, facts)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(-1) == labels).float().mean()) if len(labels) else float("nan")


# ------------------------------------------------------------------------------------ branches


def branch_features(
    model: MultimodalVEMD, name: str, inputs: SplitInputs, rows: torch.Tensor, *, tokens=None
) -> Features:
    """The audio or text branch on ``rows`` of a split (``tokens``: cached frozen audio tokens)."""
    if name == "text":
        return model.text(inputs.text[rows], inputs.text_present[rows])
    present = inputs.audio_present[rows]
    if tokens is not None:
        return model.audio(None, present, tokens=_token_batch(tokens, rows))
    return model.audio(inputs.waveforms[rows].float(), present)


def _train_branch(
    name: str, model: MultimodalVEMD, splits, features, cfg: Config, folder: Path, resume: bool
) -> float:
    branch = getattr(model, name)
    tokens = None
    if name == "audio" and not branch.trains_encoder:
        tokens = {s: frozen_audio_tokens(model, splits[s], cfg, folder) for s in splits}
    usable = {s: _has(name, splits[s]) for s in splits}

    def logits(split: str, rows: torch.Tensor) -> torch.Tensor:
        return branch_features(model, name, splits[split], rows, tokens=tokens and tokens[split]).logits

    params = [p for p in branch.parameters() if p.requires_grad]
    score = _train(
        name, branch, params, logits, splits, usable, cfg, folder / name, cfg.multimodal.branch_epochs, resume
    )
    branch.eval()
    with torch.no_grad():
        for split, inputs in splits.items():
            every = torch.arange(len(inputs))
            parts = [
                branch_features(model, name, inputs, rows, tokens=tokens and tokens[split])
                for rows in every.split(cfg.multimodal.batch_size)
            ]
            features[split][name] = Features.cat(parts)
    return score


def _has(name: str, inputs: SplitInputs) -> torch.Tensor:
    """Rows a branch trains and is scored on: clips that have its modality."""
    return inputs.audio_present if name == "audio" else inputs.text_present


def frozen_audio_tokens(model: MultimodalVEMD, inputs: SplitInputs, cfg: Config, folder: Path) -> dict:
    """Per encoder, each clip's frozen tokens (a list of (S_i, D) float16), cached on disk, keyed
    by the span of the file heard (``inputs.audio_spans``)."""
    from vemd.data.audio_cache import AudioFeatureCache, AudioKey

    out = {}
    for encoder_name, encoder in model.audio.encoders.items():
        cache = AudioFeatureCache(folder / "audio_cache", encoder.encoder_id, dim=encoder.dim)
        entries: list[torch.Tensor] = []
        for rows in torch.arange(len(inputs)).split(cfg.multimodal.batch_size):
            spans = {i: inputs.audio_spans[i] for i in rows.tolist()}  # None: no audio
            keys = [
                None if span is None else AudioKey.of(inputs.audio_paths[i], start=span[0], end=span[1])
                for i, span in spans.items()
            ]
            waves = inputs.waveforms[rows].float()
            tokens, valid = cache.get(keys, waves, encoder, audio_lengths(waves))
            entries += [t[v].to(torch.float16) for t, v in zip(tokens, valid)]
        log.info("audio tokens (%s): %d cached, %d computed", encoder_name, cache.hits, cache.misses)
        out[encoder_name] = entries
    return out


def _token_batch(tokens: dict, rows: torch.Tensor) -> dict:
    out = {}
    for name, entries in tokens.items():
        picked = [entries[i] for i in rows.tolist()]
        length = max([1] + [len(t) for t in picked])
        dim = picked[0].shape[-1]
        batch = torch.zeros(len(picked), length, dim)
        valid = torch.zeros(len(picked), length, dtype=torch.bool)
        for i, t in enumerate(picked):
            batch[i, : len(t)], valid[i, : len(t)] = t.float(), True
        out[name] = (batch, valid)
    return out


# -------------------------------------------------------------------------------------- fusion


def _train_fusion(model: MultimodalVEMD, splits, features, cfg: Config, folder: Path, resume: bool) -> float:
    def logits(split: str, rows: torch.Tensor) -> torch.Tensor:
        return model.fuse({m: f.index(rows) for m, f in features[split].items()})

    usable = {s: torch.ones(len(splits[s]), dtype=torch.bool) for s in splits}
    params = list(model.fusion.parameters())
    return _train(
        "fusion",
        model.fusion,
        params,
        logits,
        splits,
        usable,
        cfg,
        folder / "fusion",
        cfg.multimodal.fusion_epochs,
        resume,
    )


# ------------------------------------------------------------------------------- training loop


def _train(
    stage,
    module: nn.Module,
    params,
    logits_of,
    splits,
    usable,
    cfg: Config,
    folder: Path,
    epochs: int,
    resume: bool,
) -> float:
    """Adam + cross-entropy on the usable training rows, the best validation accuracy kept
    (module docstring); ``module`` ends with those weights. Returns that accuracy."""
    mm = cfg.multimodal
    train_rows = usable["train"].nonzero().squeeze(1)
    val_rows = usable["val"].nonzero().squeeze(1)
    if not len(train_rows) or not len(val_rows):
        raise VemdError(f"multimodal {stage}: no training or no validation clip has this modality")
    labels_val = splits["val"].labels[val_rows]

    def loss_of(rows: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits_of("train", rows), splits["train"].labels[rows])

    def score_of() -> float:
        return accuracy(
            torch.cat([logits_of("val", rows) for rows in val_rows.split(mm.batch_size)]), labels_val
        )

    schedule = StageTrainConfig(
        mm.optimizer, mm.lr, mm.weight_decay, mm.batch_size, epochs, mm.early_stopping_patience
    )
    return train_epochs(
        f"multimodal {stage}",
        STAGE_IDS[stage],
        module,
        params,
        loss_of=loss_of,
        score_of=score_of,
        train_rows=train_rows,
        schedule=schedule,
        seed=cfg.train.seed,
        folder=folder,
        setting=stage_setting(cfg, stage, ignore=() if stage == "fusion" else FUSION_SETTINGS),
        resume=resume,
    )
