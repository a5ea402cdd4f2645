"""The callbacks of a Lightning stage: its two checkpoints, and its epoch lines.

The two checkpoints of a stage folder are written so that a run killed at any point resumes exactly.

``last.ckpt`` (:class:`ResumePoint`) is what ``vemd fit --resume`` restarts from; ``best.ckpt``
(:class:`BestCheckpoint`) is the model selected on the validation split and exported.

Where ``last.ckpt`` is written matters. Lightning restores a checkpoint saved inside an epoch
(after a training step) or after a validation, but one saved after an epoch's *last* step and
before that epoch's validation resumes past the validation (it never runs, the selection misses
an epoch) and ends the run early. ``last.ckpt`` is therefore saved every ``n`` steps except on an
epoch's last step, and after every validation, once ``best.ckpt`` has been updated, so the
selection state it holds describes the ``best.ckpt`` on disk.

Both are written atomically, in their own folder (:class:`AtomicCheckpointIO`: a temporary file
beside the checkpoint, synced, then renamed onto its name, with the mode the user's umask asks
for), so a full disk or a kill leaves the previous checkpoint whole, never a part.

:class:`EpochLines` logs one line per epoch with the main metrics, for a run whose output is not
a terminal (a log file, CI), where no progress bar shows them.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from vemd.io import atomic_write, load_weights_only

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, saving into a temporary file in the checkpoint's own folder
    and renaming it onto its name (:func:`vemd.io.atomic_write`). Lightning's own writes the
    file in ``TMPDIR`` and moves it, which is a copy across filesystems: a full disk there
    leaves a partial checkpoint under the final name. The temporary file of a save a kill cut
    short is removed by the next save of the same checkpoint."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # one run writes a stage folder
            stale.unlink(missing_ok=True)
        atomic_write(path, lambda handle: torch.save(checkpoint, handle))


class ResumePoint(ModelCheckpoint):
    """``last.ckpt`` every ``every_n_steps`` steps inside an epoch and after every validation."""

    def __init__(self, folder: str | Path, every_n_steps: int) -> None:
        super().__init__(folder, filename="last", every_n_train_steps=every_n_steps, save_top_k=1)
        self.path = str(Path(folder) / "last.ckpt")
        self.log_row: dict | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        last_of_epoch = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        if (
            not self._should_skip_saving_checkpoint(trainer)
            and trainer.global_step % self._every_n_train_steps == 0
            and not last_of_epoch
        ):
            # Lightning logs this step's metrics after this hook: the checkpoint carries them, so a
            # run killed in between still has the step's row in its log once resumed
            self.log_row = _pending_log_row(trainer)
            self._save_checkpoint(trainer, self.path)
            self.log_row = None

    def state_dict(self) -> dict:
        return {**super().state_dict(), "log_row": self.log_row}

    def on_validation_end(self, trainer, pl_module) -> None:
        if not self._should_skip_saving_checkpoint(trainer):
            self._save_checkpoint(trainer, self.path)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        """Nothing: the save after validation covers the end of an epoch."""


def _pending_log_row(trainer) -> dict | None:
    """The logger row Lightning writes at the end of the current training step, or None."""
    from lightning_fabric.utilities.apply_func import convert_tensors_to_scalars

    connector = trainer._logger_connector
    if not connector.should_update_logs:
        return None
    metrics = convert_tensors_to_scalars(connector.metrics["log"])
    return {
        "epoch": trainer.current_epoch,
        **metrics,
        "step": trainer.fit_loop.epoch_loop._batches_that_stepped,
    }


class BestCheckpoint(ModelCheckpoint):
    """``best.ckpt``: the checkpoint of the best validation ``monitor`` score (``mode="max"``).

    A run killed after ``best.ckpt`` was replaced and before ``last.ckpt`` recorded it resumes
    with the selection state of the previous validation; that state is corrected from the
    score ``best.ckpt`` itself records, so the file and the state never disagree.
    """

    def __init__(self, folder: str | Path, monitor: str) -> None:
        super().__init__(
            folder,
            filename="best",
            monitor=monitor,
            mode="max",
            save_top_k=1,
            auto_insert_metric_name=False,
            save_on_train_epoch_end=False,  # the score exists after a validation only
        )

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        path = self.best_model_path
        if not path or not os.path.isfile(path):
            return
        try:
            saved = load_weights_only(path, mmap=True)
            score = saved["callbacks"][self.state_key]["best_model_score"]
        except Exception:  # an unreadable best.ckpt: the restored state stands, training replaces it
            return
        if score is not None and not torch.equal(
            torch.as_tensor(score), torch.as_tensor(self.best_model_score)
        ):
            self.best_model_score = self.kth_value = torch.as_tensor(score)
            self.best_k_models = {path: self.best_model_score}
            self.kth_best_model_path = path


class EpochLines(Callback):
    """One log line at the end of each training epoch (on rank zero), e.g.
    ``stage2 epoch 3/20: train loss 1.0234, val accuracy 0.4375, val UAR 0.4167 (best val/accuracy
    0.4375), 41 s``.

    The train loss is the mean of the losses of the epoch's steps this process trained (in an
    epoch resumed from ``last.ckpt``, those after the resume point); the validation scores are
    those of the epoch's own validation, and left out of an epoch that had none.
    """

    SCORES = (("val/accuracy", "val accuracy"), ("val/uar", "val UAR"))

    def __init__(self, name: str) -> None:
        self.name = name
        self._start_epoch()

    def _start_epoch(self) -> None:
        self.loss_sum: torch.Tensor | float = 0.0
        self.steps = 0
        self.scores: dict[str, float] = {}
        self.started = time.monotonic()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start_epoch()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:  # None: a batch whose items were all skipped as bad data
            self.loss_sum = self.loss_sum + loss.detach()  # summed on its device: no sync per step
            self.steps += 1

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            metrics = trainer.callback_metrics
            self.scores = {key: float(metrics[key]) for key, _ in self.SCORES if key in metrics}

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            log.info("%s", self.line(trainer))

    def line(self, trainer) -> str:
        """The line of the epoch that just ended."""
        epochs = trainer.max_epochs
        epoch = f"epoch {trainer.current_epoch + 1}" + (f"/{epochs}" if epochs and epochs > 0 else "")
        parts = [f"train loss {float(self.loss_sum) / self.steps:.4f}"] if self.steps else []
        parts += [f"{label} {self.scores[key]:.4f}" for key, label in self.SCORES if key in self.scores]
        best = trainer.checkpoint_callback
        if self.scores and best is not None and best.best_model_score is not None:
            parts[-1] += f" (best {best.monitor} {float(best.best_model_score):.4f})"
        elapsed = f"{time.monotonic() - self.started:.0f} s"
        return f"{self.name} {epoch}: {', '.join([*parts, elapsed])}"
