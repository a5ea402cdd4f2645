"""``vemd fit``: the paper's two-stage schedule on Lightning, resumable, on any device.

Layout of a run folder (``train.out_dir``)::

    config.yaml            the resolved config
    stage1/, stage2/       Lightning logs (train.logger: logs/ CSV, tb/ TensorBoard, wandb/,
                           mlruns/ MLflow's file store), last.ckpt, best.ckpt
    model.pt               the selected model: inference weights + config + class names
    fit.json               what was trained, the best validation score and where it is

The best checkpoint is selected on the **validation** split only. A progress bar shows on a
terminal; elsewhere (a log file, CI) each epoch is one line with its main metrics.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from vemd.config import Config, ConfigError, MultimodalConfig, to_dict, to_yaml
from vemd.data.build import build_dataset, eval_loader, loader_kwargs
from vemd.data.dataset import ClipDataset
from vemd.io import atomic_write_text, load_weights_only
from vemd.models.checkpoint import CheckpointError, module_state, save_model
from vemd.train.loader import EpochBatchSampler, ResumableLoader
from vemd.train.resume import changed_settings, describe

log = logging.getLogger(__name__)


def train_loader(cfg: Config, dataset: ClipDataset) -> ResumableLoader:
    sampler = EpochBatchSampler(
        len(dataset), cfg.train.batch_size, shuffle=True, seed=cfg.train.seed, drop_last=True
    )
    return ResumableLoader(dataset, sampler, **loader_kwargs(cfg))


@dataclass
class StageResult:
    stage: str
    best_checkpoint: str
    best_score: float | None
    steps: int
    num_train: int = 0
    num_val: int = 0


def _trainer(cfg: Config, folder: Path, *, max_epochs: int):
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor, RichProgressBar

    from vemd.train.callbacks import AtomicCheckpointIO, BestCheckpoint, EpochLines, ResumePoint

    t = cfg.train
    # best before last: after a validation, last.ckpt records the updated selection
    best, last = BestCheckpoint(folder, t.monitor), ResumePoint(folder, t.checkpoint_every_n_steps)
    # checked after validation only, so a run stopped by train.max_steps before any validation ends cleanly
    stopping = EarlyStopping(
        t.monitor, mode="max", patience=t.early_stopping_patience, check_on_train_epoch_end=False
    )
    callbacks = [best, last, stopping]
    callbacks.append(LearningRateMonitor("step"))
    callbacks.append(RichProgressBar() if _interactive() else EpochLines(folder.name))
    max_time = {"minutes": t.max_time_minutes} if t.max_time_minutes else None
    return pl.Trainer(
        default_root_dir=folder,
        max_epochs=max_epochs,
        max_steps=t.max_steps,
        max_time=max_time,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=training_precision(t.precision, t.accelerator),
        gradient_clip_val=t.grad_clip or None,
        deterministic=t.deterministic,
        use_distributed_sampler=False,  # EpochBatchSampler shards by rank itself
        log_every_n_steps=t.log_every_n_steps,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],  # checkpoints written in their folder, atomically
        logger=_loggers(cfg, folder),
        enable_progress_bar=_interactive(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def check_loggers(names: str) -> None:
    """One line, before anything is written, when ``train.logger`` names a logger whose package
    is not installed (wandb, mlflow: optional)."""
    import importlib.util

    for name in names.split("+"):
        if name in ("wandb", "mlflow") and importlib.util.find_spec(name) is None:
            raise ConfigError(f"train.logger={names}: {name} is not installed (pip install {name})")


def _loggers(cfg: Config, folder: Path) -> list:
    """Lightning's loggers ``train.logger`` names, each writing into the stage folder (wandb and
    MLflow there too unless their own settings, WANDB_* or MLFLOW_TRACKING_URI, point elsewhere)."""
    from pytorch_lightning import loggers

    t = cfg.train
    run = f"{folder.parent.name}/{folder.name}"  # <run folder>/stage<k>
    make = {
        # flushed as often as last.ckpt is saved, so a killed run keeps the log of its saved steps
        "csv": lambda: loggers.CSVLogger(
            folder, name="logs", version="", flush_logs_every_n_steps=t.checkpoint_every_n_steps
        ),
        "tensorboard": lambda: loggers.TensorBoardLogger(folder, name="tb", version=""),
        "wandb": lambda: loggers.WandbLogger(
            name=run, save_dir=folder, project=os.environ.get("WANDB_PROJECT", "vemd")
        ),
        "mlflow": lambda: loggers.MLFlowLogger(
            experiment_name="vemd", run_name=run, save_dir=str(folder / "mlruns")
        ),
    }
    check_loggers(t.logger)
    return [make[name]() for name in t.logger.split("+")]


def training_precision(precision: str, accelerator: str) -> str:
    """The Lightning precision ``train.precision`` stands for with ``accelerator``, logged with why.

    ``auto`` follows :func:`vemd.device.choose_precision`: bf16-mixed on a GPU with bf16 (else
    16-mixed, which Lightning trains with a gradient scaler), and on a CPU bf16-mixed only where
    a short probe measured bf16 faster than fp32, else 32-true. An explicit bf16 on a CPU where
    it measured slower trains as asked and says once how much slower.
    """
    from vemd.device import choose_precision

    device = _training_device(accelerator)
    if precision == "auto":
        chosen = choose_precision("auto", device)
        lightning = {"bf16": "bf16-mixed", "fp16": "16-mixed", "fp32": "32-true"}[chosen.name]
        log.info("train.precision=auto: %s (%s)", lightning, chosen.reason)
        return lightning
    if precision.startswith("bf16") and device.type == "cpu":
        chosen = choose_precision("bf16", device)  # warns once where bf16 measured slower
        log.info("train.precision=%s (%s)", precision, chosen.reason)
    return precision


def _training_device(accelerator: str) -> torch.device:
    """The kind of device Lightning's ``accelerator`` trains on."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    if accelerator == "mps" or (accelerator == "auto" and _mps_available()):
        return torch.device("mps")
    return torch.device("cpu" if accelerator in ("cpu", "auto") else accelerator)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def _interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def warn_random_frozen_vit(cfg: Config) -> None:
    """One warning line when stage 2 starts with a ViT branch that is random and frozen.

    Such a branch is half of the latent made of fixed random features of each image: nothing
    trains them toward the task, yet its trainable projection and the heads can fit them to the
    training labels. On the quickstart's scenes a linear classifier of the latent reached 44.0 %
    validation after 3 epochs with that branch and 61.7 % without it
    (``benchmarks/bench_plateau.py --heads linear [--set model.vit.enabled=true]``, seed 1)."""
    vit = cfg.model.vit
    if vit.enabled and vit.frozen and not vit.pretrained and not vit.weights:
        log.warning(
            "model.vit (%s) is random and frozen: its half of the latent is fixed random features; "
            "name pretrained weights (model.vit.weights or model.vit.pretrained=true) or set "
            "model.vit.enabled=false",
            vit.name,
        )


def run_stage(
    cfg: Config, stage: str, out_dir: Path, *, init_from: str | None, resume: bool
) -> tuple[StageResult, bool]:
    """Train one stage; ``init_from`` loads weights of a previous stage's checkpoint.

    Returns the stage result and whether this process is the global rank zero.
    """
    from vemd.train.module import VEMDModule

    folder = out_dir / f"stage{stage}"
    train_set, index = build_dataset(cfg, cfg.data.train_split, train=True, stage=stage)
    val_set, _ = build_dataset(cfg, cfg.data.val_split, train=False, stage=stage)
    if len(train_set) < cfg.train.batch_size:
        raise ConfigError(f"{index.root}: {len(train_set)} training items, fewer than train.batch_size")
    module = VEMDModule(cfg, index.class_names, stage=stage)
    if init_from:
        missing, unexpected = module.load_state_dict(module_state(init_from), strict=False)
        log.info(
            "stage %s initialised from %s (%d keys new, %d unused)",
            stage,
            init_from,
            len(missing),
            len(unexpected),
        )
    if stage == "2" and not init_from:
        warn_random_frozen_vit(cfg)
    if stage == "2" and cfg.train.feature_cache:
        module.feature_cache = _feature_cache(cfg, module, out_dir, augmented=cfg.data.augment)
    max_epochs = cfg.train.stage1_epochs if stage == "1" else cfg.train.max_epochs
    trainer = _trainer(cfg, folder, max_epochs=max_epochs)
    last = folder / "last.ckpt"
    ckpt_path = str(last) if resume and last.exists() else None
    if ckpt_path:
        log.info("resuming stage %s from %s", stage, ckpt_path)
    # the step the run resumes from, read before anything else touches last.ckpt (it is rewritten
    # while training)
    resume_step, log_row = _resume_point(last, cfg) if ckpt_path else (0, None)
    kept_log = (
        _set_aside_csv_log(folder, before_step=resume_step, pending=log_row)
        if ckpt_path and trainer.is_global_zero
        else None
    )
    loader = train_loader(cfg, train_set)
    module.batches_per_epoch = loader.batch_sampler.__len__  # read once DDP has set up its ranks
    trainer.fit(module, loader, eval_loader(cfg, val_set), ckpt_path=ckpt_path, weights_only=True)
    if kept_log is not None:
        _restore_csv_log(folder, kept_log)
    selection = trainer.checkpoint_callback
    if not trainer.interrupted:
        # last.ckpt is otherwise only as new as the last periodic save: saving the finished state
        # makes a rerun with --resume a no-op instead of retraining the tail of the last epoch
        trainer.save_checkpoint(last)  # the full training state
        if selection.best_model_score is None:
            _validate_final_model(trainer, module, eval_loader(cfg, val_set), folder / "best.ckpt")
    best = selection.best_model_path or str(last)
    score = selection.best_model_score
    result = StageResult(
        stage,
        best,
        None if score is None else float(score),
        trainer.global_step,
        len(train_set),
        len(val_set),
    )
    return result, trainer.is_global_zero


def _validate_final_model(trainer, module, loader, path: Path) -> None:
    """A stage that ended before any validation (``train.max_steps`` or ``max_time_minutes`` inside
    the first epoch) validates its final model once, which becomes ``best.ckpt`` with that score."""
    log.info("stage ended before any validation: validating its final model once")
    trainer.validate(module, loader, verbose=False)
    selection = trainer.checkpoint_callback
    score = trainer.callback_metrics[selection.monitor].detach().cpu()
    selection.best_model_score = selection.kth_value = score
    selection.best_model_path = selection.kth_best_model_path = str(path)
    selection.best_k_models = {str(path): score}
    trainer.save_checkpoint(path)


def _resume_point(path: Path, cfg: Config) -> tuple[int, dict | None]:
    """The step ``last.ckpt`` was saved at and the log row of that step it carries (or None),
    read weights-only (mmap: the weights stay on disk).

    A file holding anything but tensors and plain containers (a crafted pickle) stops the run
    with one line before Lightning loads it, as does a config that differs from the one the
    checkpoint was trained with in a setting that changes training (:mod:`vemd.train.resume`).
    """
    from vemd.train.callbacks import ResumePoint

    try:
        saved = load_weights_only(path, mmap=True)
        step = int(saved["global_step"])
    except Exception as err:  # torch raises several types for foreign, crafted or corrupt files
        raise CheckpointError(
            f"{path}: not a checkpoint vemd fit wrote ({type(err).__name__}); not resuming from it"
        ) from None
    changed = changed_settings(saved.get("vemd", {}).get("config"), to_dict(cfg))
    if changed:
        raise ConfigError(
            f"{path}: trained with other settings ({describe(changed)}); resume with the same settings "
            "or train into another train.out_dir"
        )
    states = [v for k, v in saved.get("callbacks", {}).items() if k.startswith(ResumePoint.__name__)]
    return step, next((s.get("log_row") for s in states if isinstance(s, dict)), None)


CSV_LOG = Path("logs") / "metrics.csv"


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({key for row in rows for key in row}))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _rows_before(rows: list[dict], step: float) -> list[dict]:
    return [r for r in rows if int(r["step"]) < step]


def _set_aside_csv_log(folder: Path, *, before_step: int, pending: dict | None = None) -> Path:
    """Move the CSV log of the interrupted run away (Lightning's CSV logger deletes it on start),
    keeping the rows of the steps done before the checkpoint the run resumes from.

    If a resumed run was itself interrupted, its rows join those already set aside. Rows logged
    at or after the checkpoint's step are dropped: those steps are trained again. ``pending`` is
    the row of the checkpoint's own step, which a run killed right after saving never wrote; it
    is added here, at once, so that a resumed run killed in its turn does not lose it.
    """
    path, kept = folder / CSV_LOG, folder / CSV_LOG.with_name("metrics.before-resume.csv")
    rows = _read_rows(kept) if kept.exists() else []
    if path.exists():
        newer = _read_rows(path)
        start = min((int(r["step"]) for r in newer), default=float("inf"))
        rows = _rows_before(rows, start) + newer
    rows = _rows_before(rows, before_step)
    if pending is not None and not any(_same_row(row, pending) for row in rows):
        rows.append({key: str(value) for key, value in pending.items()})
    _write_rows(kept, rows)
    path.unlink(missing_ok=True)
    return kept


def _restore_csv_log(folder: Path, kept: Path) -> None:
    """One CSV log for the whole run: the rows set aside on resuming, then the resumed ones."""
    path = folder / CSV_LOG
    resumed = _read_rows(path) if path.exists() else []
    _write_rows(path, _read_rows(kept) + resumed)
    kept.unlink()


def _same_row(row: dict, pending: dict) -> bool:
    """Whether a CSV row holds the metrics of ``pending`` at its step."""
    return str(row.get("step")) == str(pending["step"]) and all(row.get(k) for k in pending)


def _feature_cache(cfg: Config, module, out_dir: Path, *, augmented: bool):
    from vemd.train.feature_cache import FeatureCache

    vit_branch = module.model.encoder.vit_branch
    if vit_branch is None:
        return None
    if not vit_branch.frozen or augmented:
        log.info(
            "feature cache off: the ViT branch is %s",
            "trainable" if not vit_branch.frozen else "fed augmented frames",
        )
        return None
    setting = {
        "root": str(Path(cfg.data.root).resolve()),
        "name": cfg.data.name,
        "frames": cfg.data.frames,
        "sampling": cfg.data.sampling,
        "interval": cfg.data.frame_interval,
        "size": cfg.model.image_size,
    }
    return FeatureCache(out_dir / "feature_cache", vit_branch.vit, setting)


def fit_vemd_multimodal(cfg: Config, *, resume: bool = False) -> dict:
    """The multimodal VE-MD (paper §7): the VE-MD of ``multimodal.video_model`` (or, when that is
    not given, the one the vision stages train into ``<out_dir>/video``) is frozen and the audio /
    text branches and their fusion are trained over it (:mod:`vemd.train.multimodal`)."""
    from vemd.train.multimodal import fit_multimodal

    video_model = cfg.multimodal.video_model
    if video_model is None:
        vision = copy.deepcopy(cfg)
        vision.multimodal = MultimodalConfig()  # the VE-MD's run knows nothing of its fusion
        vision.train.out_dir = str(Path(cfg.train.out_dir) / "video")
        video_model = fit_vemd(vision, resume=resume)["model"]
    return fit_multimodal(cfg, resume=resume, video_model=video_model)


def fit_vemd(cfg: Config, *, resume: bool = False) -> dict:
    """Run the configured VE-MD stages; returns the summary written to ``fit.json``."""
    torch.manual_seed(cfg.train.seed)
    out_dir = Path(cfg.train.out_dir)
    stages = ["1", "2"] if cfg.train.stage == "both" else [cfg.train.stage]
    from vemd.models.build import check_buildable

    check_buildable(cfg.model)  # settings no working model takes: one line before anything is written
    check_loggers(cfg.train.logger)
    if resume:  # a checkpoint that cannot be resumed is refused before anything is written
        for stage in stages:
            if (last := out_dir / f"stage{stage}" / "last.ckpt").exists():
                _resume_point(last, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.yaml", to_yaml(cfg))
    init_from = cfg.train.stage1_ckpt
    results = []
    for stage in stages:
        result, is_main = run_stage(cfg, stage, out_dir, init_from=init_from, resume=resume)
        results.append(result)
        init_from = result.best_checkpoint
    final = results[-1]
    if not is_main:  # other DDP processes leave the exports to rank 0
        return {"stages": [r.__dict__ for r in results], "rank_zero": False}
    model_path = save_model(final.best_checkpoint, out_dir / "model.pt")
    summary = {
        "model": str(model_path),
        "stages": [r.__dict__ for r in results],
        "monitor": cfg.train.monitor,
        "best_val_score": final.best_score,
    }
    atomic_write_text(out_dir / "fit.json", json.dumps(summary, indent=2))
    _write_card(cfg, model_path, final)
    return summary


def _write_card(cfg: Config, model_path: Path, final: StageResult) -> None:
    """``MODEL_CARD.md`` beside ``model.pt``: the model, its data and the validation score selected on."""
    from vemd.card import fit_facts, read_facts, write_model_card
    from vemd.eval.metrics import wilson_interval

    class_names = load_weights_only(model_path, mmap=True)["class_names"]
    validation = {
        "monitor": cfg.train.monitor,
        "score": final.best_score,
        "checkpoint": final.best_checkpoint,
    }
    if final.best_score is not None and cfg.train.monitor == "val/accuracy" and final.num_val:
        validation["ci95"] = list(wilson_interval(round(final.best_score * final.num_val), final.num_val))
    sizes = {cfg.data.train_split: final.num_train, cfg.data.val_split: final.num_val}
    facts = fit_facts(cfg, class_names, sizes=sizes, validation=validation)
    old = read_facts(model_path)
    if old is not None and old.get("validation") == validation:  # the same model again: keep its measurements
        facts["evaluations"] = old.get("evaluations", {})
        if old.get("audits"):
            facts["audits"] = old["audits"]
    write_model_card(model_path, facts)
