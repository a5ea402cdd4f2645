"""Run ``vemd fit`` with a trace of what each training step trains on, and optionally kill -9 itself.

Usage: ``python fit_probe.py TRACE KILL_AT -- FIT_ARGS...``

* TRACE: a file that gets one JSON line per training step, ``{"step": global_step, "ids": [clip ids]}``,
  written and fsync'ed before the step runs, so a killed run's trace is complete up to the kill.
* KILL_AT: ``none``; ``step:N`` (SIGKILL once the step with global step N has finished and the
  checkpoint callbacks of that step have run); ``val:E`` (SIGKILL inside the first validation
  batch of epoch E, 0-based); ``beforelast:E`` (SIGKILL after epoch E's validation once ``best.ckpt``
  is updated, before ``last.ckpt`` is); ``afterval:E`` (SIGKILL right after ``last.ckpt`` is saved
  at the end of epoch E's validation).

The product code is untouched: the hooks are patched onto the Lightning module class here.
"""

import json
import os
import signal
import sys

from vemd.cli import main
from vemd.train.callbacks import ResumePoint
from vemd.train.module import VEMDModule


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(trace_path: str, kill_at: str) -> None:
    kind, _, value = kill_at.partition(":")
    trace = open(trace_path, "a")  # noqa: SIM115 (open for the life of the process)
    training_step = VEMDModule.training_step
    validation_step = VEMDModule.validation_step

    def traced_training_step(self, batch, batch_idx):
        ids = [] if batch is None else list(batch["clip_id"])
        trace.write(json.dumps({"stage": self.stage, "step": self.global_step, "ids": ids}) + "\n")
        trace.flush()
        os.fsync(trace.fileno())
        return training_step(self, batch, batch_idx)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        # runs after the callbacks' on_train_batch_end, where ModelCheckpoint saves last.ckpt
        if kind == "step" and self.stage == "2" and self.global_step == int(value):
            _kill()

    def killing_validation_step(self, batch, batch_idx):
        if kind == "val" and self.stage == "2" and self.current_epoch == int(value) and batch_idx == 0:
            _kill()
        return validation_step(self, batch, batch_idx)

    resume_point_saved = ResumePoint.on_validation_end

    def killing_on_validation_end(self, trainer, pl_module):
        at_epoch = pl_module.stage == "2" and trainer.current_epoch == int(value or -1)
        if kind == "beforelast" and at_epoch:
            _kill()
        resume_point_saved(self, trainer, pl_module)
        if kind == "afterval" and at_epoch:
            _kill()

    ResumePoint.on_validation_end = killing_on_validation_end
    VEMDModule.training_step = traced_training_step
    VEMDModule.on_train_batch_end = on_train_batch_end
    VEMDModule.validation_step = killing_validation_step


if __name__ == "__main__":
    trace_path, kill_at, sep, *fit_args = sys.argv[1:]
    assert sep == "--", "usage: fit_probe.py TRACE KILL_AT -- FIT_ARGS..."
    install(trace_path, kill_at)
    sys.exit(main(["fit", *fit_args]))
