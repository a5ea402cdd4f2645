"""kill -9 `vemd fit` at several points, resume: the same samples in the same steps, the same model.

Each run goes through ``fit_probe.py``, which records the clip ids of every training step and
kills its own process (SIGKILL) at a chosen point. The recipe's real scheduler (cosine with
warm-up), dropout and a DataLoader worker are on, so any replayed or skipped batch, any
forgotten scheduler or best-model state shows up as a different trace, weights or export.
"""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import TINY

PROBE = Path(__file__).with_name("fit_probe.py")
# 16 clips, batch 4: 4 steps per epoch, 3 epochs
RECIPE = [
    *TINY,
    "train.max_epochs=3",
    "train.early_stopping_patience=10",
    "train.scheduler=cosine",
    "train.warmup_fraction=0.25",
    "train.num_workers=1",
    "model.emotion.dropout=0.2",
]


def _run(synth_root, out: Path, trace: Path, kill_at: str, *, resume: bool = False):
    args = ["--config", "tiny", *sum((["--set", s] for s in RECIPE), [])]
    args += ["--set", f"data.root={synth_root}", "--set", f"train.out_dir={out}"]
    args += ["--resume"] if resume else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CI": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(PROBE), str(trace), kill_at, "--", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _trace(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["step"], tuple(r["ids"])) for r in rows if r["stage"] == "2"]


@pytest.fixture(scope="module")
def straight(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    done = _run(synth_root, out, out / "trace.jsonl", "none")
    assert done.returncode == 0, done.stderr[-3000:]
    return out


# The kill points, in the order a run reaches them: one run is killed at each in turn, resumed
# after each kill, and finally left to finish, so every resume but the first starts from a
# resumed run's checkpoint as well.
KILL_POINTS = [
    "afterval:0",  # right after the checkpoint at the end of epoch 0's validation
    "step:6",  # mid-epoch (epoch 1, third step)
    "step:8",  # right after epoch 1's last step, before its validation (a best.ckpt exists)
    "val:1",  # during epoch 1's validation
    "beforelast:1",  # after epoch 1's best.ckpt update, before last.ckpt records it
]


@pytest.mark.slow
def test_a_run_killed_at_every_point_and_resumed_trains_what_an_uninterrupted_run_trains(
    synth_root, straight, tmp_path
):
    trace = tmp_path / "trace.jsonl"
    trained: list[tuple[int, tuple[str, ...]]] = []  # the steps that count, in order
    saved_step = 0
    for number, kill_at in enumerate([*KILL_POINTS, "none"]):
        lines = len(_trace(trace)) if trace.exists() else 0
        run = _run(synth_root, tmp_path, trace, kill_at, resume=number > 0)
        expected_code = 0 if kill_at == "none" else -signal.SIGKILL
        assert run.returncode == expected_code, (kill_at, run.stderr[-3000:])
        segment = _trace(trace)[lines:]
        # a resumed run starts at its checkpoint's step: nothing trained twice, nothing skipped
        # (a run killed in the validation it resumes into trains no step)
        assert not segment or segment[0][0] == saved_step, (kill_at, saved_step, segment[:2])
        trained = [s for s in trained if s[0] < saved_step] + segment
        saved_step = torch.load(tmp_path / "stage2" / "last.ckpt", weights_only=True)["global_step"]
    assert trained == _trace(straight / "trace.jsonl")

    # the CSV log spans the whole run, each step once, as the uninterrupted run's does
    assert _logged_steps(tmp_path) == _logged_steps(straight)

    # the same selection and export as the uninterrupted run
    summary, reference = (json.loads((d / "fit.json").read_text()) for d in (tmp_path, straight))
    assert summary["best_val_score"] == reference["best_val_score"]
    assert summary["stages"][-1]["steps"] == reference["stages"][-1]["steps"]
    assert sorted(p.name for p in (tmp_path / "stage2").glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]
    a = torch.load(straight / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _logged_steps(out) -> list[int]:
    with open(out / "stage2" / "logs" / "metrics.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss")]
