"""Known noise kept out of the user's terminal unless ``vemd --verbose``.

Two kinds: Lightning's warnings and info lines that say nothing a vemd user can act on (the
frozen ViT branch is in eval mode on purpose, a resumed run writes into its own folder, ...),
and the glog / absl lines (``W0000 ...``, ``I0000 ...``) that MediaPipe and TFLite print from
C++ straight to file descriptor 2, where neither ``warnings`` nor ``logging`` reaches: while
such code runs, fd 2 is sent to a temporary file, and the lines other than those are written
back to stderr afterwards (errors, ``E``/``F`` lines and Python's own output stay).

``--verbose`` filters nothing and sets logging to INFO (``-v``) or DEBUG (``-vv``); it is
passed to worker processes through the ``VEMD_VERBOSE`` environment variable.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

VERBOSE_ENV = "VEMD_VERBOSE"

# Lightning's warnings that are expected in a vemd run (message regexes, matched from the start).
LIGHTNING_WARNINGS = (
    r"Found \d+ module\(s\) in eval mode at the start of training",  # the frozen ViT branch
    r"Checkpoint directory .* exists and is not empty",  # a resumed run writes into its own folder
    r"Experiment logs directory .* exists and is not empty",
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    r"GPU available but not used",  # train.accelerator=cpu asked for it
    r"The '\w+' does not have many workers",  # train.num_workers is the user's choice
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning's call into torch's pytree
)
# Lightning's info lines of no use to a vemd user (regexes, matched from the start), and the
# loggers they come through (rank_zero_info of Lightning and Fabric alike logs to PL's
# rank_zero logger); other info lines, such as the distributed set-up, stay.
LIGHTNING_INFO = (
    r"(GPU|TPU|HPU) available: ",
    r"💡 Tip: ",
    r"`Trainer.fit` stopped: ",
    r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES: ",
    r"`weights_only` was not set, defaulting to `False`",  # a save of the full training state
)
LIGHTNING_INFO_LOGGERS = tuple(
    f"{package}.{module}"
    for package in ("pytorch_lightning", "lightning.pytorch")
    for module in ("utilities.rank_zero", "accelerators.cuda", "trainer.connectors.checkpoint_connector")
)
# glog / absl info and warning lines, and TFLite's start-up lines.
NATIVE_NOISE = re.compile(
    rb"[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
)


def configure(verbosity: int = 0) -> None:
    """Called once by the CLI: quiet the known noise, or (``verbosity`` ≥ 1) filter nothing."""
    if verbosity:
        os.environ[VERBOSE_ENV] = str(verbosity)
        logging.basicConfig(level=logging.DEBUG if verbosity > 1 else logging.INFO, format="%(message)s")
        return
    for pattern in LIGHTNING_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in LIGHTNING_INFO_LOGGERS:
        logging.getLogger(name).addFilter(_drop_lightning_info)  # the same filter once per logger


class _DropMessages(logging.Filter):
    """Drops the records whose message matches one of ``patterns``."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__()
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


_drop_lightning_info = _DropMessages(LIGHTNING_INFO)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "0") not in ("", "0")


@contextmanager
def native_noise_filtered() -> Iterator[None]:
    """Run the block with fd 2 captured, then write back to stderr what is not :data:`NATIVE_NOISE`.

    Process-wide (fd 2 is): meant for short calls into native code, such as one MediaPipe
    inference; output of other threads during the block is delayed, not lost.
    """
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(True) if not NATIVE_NOISE.match(line)]
            if kept:
                os.write(2, b"".join(kept))
