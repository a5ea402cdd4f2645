"""What ``vemd fit`` tells its reader: one line per epoch when its output is not a terminal, and
Lightning's loggers as ``train.logger`` names them."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY
from vemd.cli import main
from vemd.config import ConfigError, load_config
from vemd.systems import fit

ROOT = Path(__file__).resolve().parents[2]
EPOCH_LINE = re.compile(
    r"stage2 epoch (\d)/2: train loss \d+\.\d{4}, val accuracy (\d\.\d{4}), val UAR \d\.\d{4} "
    r"\(best val/accuracy (\d\.\d{4})\), \d+ s"
)


def _overrides(root, out, *extra) -> list[str]:
    return [f"data.root={root}", f"train.out_dir={out}", *TINY, "train.feature_cache=false", *extra]


@pytest.mark.slow
def test_piped_fit_prints_one_line_per_epoch_and_its_summary_last(synth_root, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "vemd.cli", "fit", "--config", "tiny"]
    args += [a for o in _overrides(synth_root, out, "train.logger=tensorboard") for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # piped, not CI: the terminal test decides
    env |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [m for line in done.stderr.splitlines() if (m := EPOCH_LINE.fullmatch(line))]
    assert [m[1] for m in lines] == ["1", "2"], done.stderr
    assert float(lines[-1][3]) == max(float(m[2]) for m in lines)  # the best so far
    assert json.loads(done.stdout)["model"] == str(out / "model.pt")  # stdout: the summary alone
    # train.logger=tensorboard: its event files, no CSV log
    stage = out / "stage2"
    assert list((stage / "tb").glob("events.out.tfevents.*")) and not (stage / "logs").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("csv", [("CSVLogger", "logs")]),
        ("tensorboard", [("TensorBoardLogger", "tb")]),
        ("csv+tensorboard", [("CSVLogger", "logs"), ("TensorBoardLogger", "tb")]),  # the default
    ],
)
def test_train_logger_names_lightnings_loggers_writing_into_the_stage_folder(value, expected, tmp_path):
    from vemd.train.fit import _loggers

    assert load_config("tiny").train.logger == "csv+tensorboard"
    loggers = _loggers(load_config("tiny", [f"train.logger={value}"]), tmp_path / "stage2")
    assert [
        (type(lg).__name__, Path(lg.log_dir).relative_to(tmp_path / "stage2").as_posix()) for lg in loggers
    ] == expected


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed")
def test_mlflow_logs_into_a_file_store_in_the_stage_folder(synth_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "run"
    fit(load_config("tiny", _overrides(synth_root, out, "train.logger=mlflow", "train.max_epochs=1")))
    assert any(p.name == "val" for p in (out / "stage2" / "mlruns").rglob("*"))  # metrics/val/...


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_a_logger_that_is_not_installed_is_one_line_before_anything_is_written(name, tmp_path, capsys):
    if importlib.util.find_spec(name) is not None:
        pytest.skip(f"{name} is installed")
    out = tmp_path / "run"
    args = ["fit", "--config", "tiny", "--set", f"train.out_dir={out}", "--set", f"train.logger=csv+{name}"]
    assert main(args) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == f"vemd fit: error: train.logger=csv+{name}: {name} is not installed (pip install {name})"
    assert not out.exists()


@pytest.mark.parametrize("value", ["comet", "csv+csv", "csv,tensorboard", "csv+"])
def test_an_unknown_or_repeated_logger_is_refused_naming_the_choices(value):
    with pytest.raises(ConfigError, match=r"train.logger=.*expected one of csv, tensorboard, wandb, mlflow"):
        load_config("tiny", [f"train.logger={value}"])
