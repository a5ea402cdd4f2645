"""Lightning's known-noise warnings and info lines stay out of the terminal unless
``vemd --verbose``; vemd's own output and real errors stay."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import TINY as TRAIN_TINY
from vemd.noise import NATIVE_NOISE, native_noise_filtered

# the training tests' tiny recipe, one epoch on the CPU, logging less often than the 4 batches
# of an epoch (Lightning's logging-interval hint)
TINY = [*TRAIN_TINY, "train.max_epochs=1", "train.accelerator=cpu", "train.log_every_n_steps=50"]
# Noise a tiny CPU fit through the CLI prints (each seen in such a run before it was filtered).
NOISE = (
    "in eval mode at the start of training",
    "exists and is not empty",
    "is smaller than the logging interval",
    "GPU available",
    "TPU available",
    "Tip:",
    "LeafSpec",
)


def _fit(root, out, *flags: str) -> subprocess.CompletedProcess:
    sets = [arg for item in [f"data.root={root}", f"train.out_dir={out}", *TINY] for arg in ("--set", item)]
    code = "import sys; from vemd.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("VEMD_VERBOSE", None)
    done = subprocess.run(
        [sys.executable, "-c", code, *flags, "fit", "--config", "tiny", *sets],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_lightning_noise_only_with_verbose(synth_root, tmp_path):
    quiet = _fit(synth_root, tmp_path / "quiet")
    assert [s for s in NOISE if s in quiet.stderr] == []
    assert "best_val_score" in quiet.stdout and "training clips" in quiet.stderr  # vemd's own lines stay
    loud = _fit(synth_root, tmp_path / "loud", "--verbose")
    assert [s for s in NOISE if s not in loud.stderr] == []


def test_native_glog_lines_are_dropped_and_others_kept(capfd):
    lines = [
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"W0000 00:00:1796166247.456749    6564 inference_feedback_manager.cc:114] Feedback manager\n",
        b"I0000 00:00:1796166247.456749    6564 gl_context.cc:369] GL version: 3.2\n",
        b"E0000 00:00:1796166247.456749    6564 calculator_graph.cc:887] a real error\n",
        b"something else\n",
    ]
    with native_noise_filtered():
        for line in lines:
            os.write(2, line)
    assert (
        capfd.readouterr().err
        == "E0000 00:00:1796166247.456749    6564 calculator_graph.cc:887] a real error\nsomething else\n"
    )
    assert sum(bool(NATIVE_NOISE.match(line)) for line in lines) == 4


def test_native_lines_stay_with_verbose(capfd, monkeypatch):
    monkeypatch.setenv("VEMD_VERBOSE", "1")
    with native_noise_filtered():
        os.write(2, b"W0000 00:00:1796166247.456749    6564 x.cc:1] kept\n")
    assert "kept" in capfd.readouterr().err
