"""The Lightning module: one VE-MD model, its criterion, metrics and training stage.

Stage 1 fine-tunes the ViT branch alone with cross-entropy (``model.vit_logits``);
stage 2 freezes it and trains the multitask branch, the structural decoders and the
emotion decoder with the full criterion (paper §3.4). Every loss term is logged as
``train/<term>`` and ``val/<term>`` (the total ``loss``, ``loss_cls``, the weighted L_p
``loss_body`` and its unweighted terms ``loss_body_limb``, ``loss_body_heatmap``, …), and
every criterion diagnostic likewise (``train/body_num_unmatched_persons``); validation also
logs ``val/accuracy`` and ``val/uar``, on which early stopping and checkpoint selection run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics

from vemd.config import Config, to_dict
from vemd.data.dataset import usable
from vemd.models.build import build_criterion, build_model
from vemd.train.feature_cache import FeatureCache
from vemd.train.optim import check_finite_loss, make_optimizer, warmup_cosine


class VEMDModule(pl.LightningModule):
    """Trains and evaluates :class:`vemd.models.vemd.VEMD` for one configured stage.

    Args:
        cfg: the resolved config (saved in every checkpoint).
        class_names: label order of the dataset.
        stage: ``"1"`` (ViT branch alone) or ``"2"`` (frozen ViT, multitask).
        feature_cache: cache of frozen ViT tokens used in stage 2, or None.
    """

    def __init__(
        self,
        cfg: Config,
        class_names: list[str],
        *,
        stage: str = "2",
        feature_cache: FeatureCache | None = None,
    ) -> None:
        super().__init__()
        self.cfg, self.class_names, self.stage = cfg, list(class_names), stage
        self.save_hyperparameters({"config": to_dict(cfg), "class_names": self.class_names, "stage": stage})
        self.model = build_model(cfg.model)
        self.criterion = build_criterion(cfg.loss, self.model, cfg.model.decoder)
        if self.model.encoder.vit_branch is not None:
            self.model.encoder.vit_branch.set_frozen(stage == "2" and cfg.model.vit.frozen)
        self.model.stage = stage
        self.feature_cache = feature_cache
        # training batches per epoch on this process, set by whoever builds the train loader: the
        # LR schedule's length is counted from it (see ``total_steps``)
        self.batches_per_epoch: Callable[[], int] | None = None
        num_classes = cfg.model.num_classes
        self.val_accuracy = torchmetrics.classification.MulticlassAccuracy(num_classes, average="micro")
        self.val_uar = torchmetrics.classification.MulticlassRecall(num_classes, average="macro")

    def _targets(self, batch: dict) -> dict | None:
        if "heatmaps" in batch:
            return {m: t.float() for m, t in batch["heatmaps"].items()}
        return batch.get("queries")

    def _vit_features(self, batch: dict, frames: torch.Tensor) -> torch.Tensor | None:
        if self.feature_cache is None or self.stage != "2":
            return None
        return self.feature_cache.get(batch["clip_id"], frames, self.model.vit_features)

    def losses(
        self, batch: dict, *, auxiliary: bool
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms, diagnostics and logits of a batch in the current stage."""
        frames = self.model.preprocess(batch["frames"])
        labels = batch["label"]
        output = self.model.classify(frames, self._vit_features(batch, frames), auxiliary=auxiliary)
        if self.stage == "1":  # the ViT head alone, with cross-entropy (paper §3.4)
            loss = F.cross_entropy(output.logits.float(), labels)
            return {"loss_cls": loss, "loss": loss}, {}, output.logits
        terms, diagnostics = self.criterion(
            output,
            labels,
            targets=self._targets(batch),
            target_mask=batch["target_mask"],
            frames=frames,
            valence=batch.get("valence"),
        )
        return terms, diagnostics, output.logits

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Randomness of a step (dropout, latent sampling) depends on (seed, step) only, so a
        # resumed run repeats exactly the steps an uninterrupted one would take.
        torch.manual_seed(self.cfg.train.seed * 1_000_003 + self.global_step)

    def training_step(self, batch: dict | None, batch_idx: int):
        # Counted here, not in on_train_batch_end: checkpoint callbacks run before that hook.
        loader = self.trainer.train_dataloader
        if hasattr(loader, "step_done"):
            loader.step_done(batch_idx)
        batch = usable(batch)
        if batch is None:  # every item of the batch was skipped as bad data
            return None
        terms, diagnostics, _ = self.losses(batch, auxiliary=True)
        lr = self.cfg.train.stage1_lr if self.stage == "1" else self.cfg.train.lr
        check_finite_loss(terms, f"stage {self.stage}, step {self.global_step}", lr)
        size = len(batch["label"])
        for name, value in (terms | diagnostics).items():
            self.log(f"train/{name}", value.detach().float(), batch_size=size, prog_bar=name == "loss")
        return terms["loss"]

    def validation_step(self, batch: dict | None, batch_idx: int) -> None:
        batch = usable(batch)
        if batch is None:
            return
        terms, diagnostics, logits = self.losses(batch, auxiliary=True)
        size = len(batch["label"])
        for name, value in (terms | diagnostics).items():
            self.log(f"val/{name}", value.float(), batch_size=size, sync_dist=True)
        self.val_accuracy.update(logits, batch["label"])
        self.val_uar.update(logits, batch["label"])
        self.log("val/accuracy", self.val_accuracy, batch_size=size, prog_bar=True)
        self.log("val/uar", self.val_uar, batch_size=size)

    def configure_optimizers(self):
        t = self.cfg.train
        params = [p for p in self.parameters() if p.requires_grad]
        lr = t.stage1_lr if self.stage == "1" else t.lr
        name = (t.stage1_optimizer or t.optimizer) if self.stage == "1" else t.optimizer
        optimizer = make_optimizer(name, params, lr, t.weight_decay, momentum=t.momentum)
        if t.scheduler == "none":
            return optimizer
        scheduler = warmup_cosine(optimizer, self.total_steps(), t.warmup_fraction)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def total_steps(self) -> int:
        """Optimizer steps of the whole stage: ``max_epochs`` epochs, at most ``max_steps``.

        Counted from the train loader's length instead of ``trainer.estimated_stepping_batches``:
        reading that property makes Lightning set up the train loader before a resumed run's
        checkpoint is restored, and the loader would then never get its saved position back
        (the resumed epoch would restart at its first batch).
        """
        trainer = self.trainer
        if self.batches_per_epoch is None:
            raise RuntimeError("VEMDModule.batches_per_epoch must be set before training")
        per_epoch = -(-self.batches_per_epoch() // trainer.accumulate_grad_batches)
        epochs = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs >= 0 else None
        limits = [n for n in (trainer.max_steps, epochs and epochs * per_epoch) if n and n > 0]
        return max(1, min(limits)) if limits else max(1, per_epoch)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        from vemd.version import __version__

        checkpoint["vemd"] = {
            "version": __version__,
            "config": to_dict(self.cfg),
            "class_names": self.class_names,
            "stage": self.stage,
        }
