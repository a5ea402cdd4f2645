"""Precision chosen by measurement: ``auto`` takes bf16 on a CPU only where the probe measured it
faster than fp32, for ``vemd fit``, ``vemd predict``, ``vemd.load`` and ``vemd serve`` alike; an
explicit bf16 that measured slower is kept and says so once.

The probe's answer is set through ``VEMD_CPU_BF16_SPEEDUP`` (fp32 time / bf16 time), both ways.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

import vemd
from vemd import device as device_module
from vemd.cli import main
from vemd.device import SPEEDUP_ENV, choose_precision
from vemd.errors import VemdError
from vemd.train.fit import training_precision

CPU = torch.device("cpu")
FASTER, SLOWER = "2.5", "0.4"  # the probe's answer: bf16 2.5x faster, or 2.5x slower


@pytest.fixture
def probe(monkeypatch):
    """Sets the probe's answer; forgets what was already said once."""
    monkeypatch.setattr(device_module, "_said", set())

    def answer(speedup: str) -> None:
        monkeypatch.setenv(SPEEDUP_ENV, speedup)

    return answer


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(path)
    return path


# ---- the choice ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speedup", "dtype"), [(FASTER, torch.bfloat16), (SLOWER, torch.float32), ("1.1", torch.float32)]
)
def test_auto_on_a_cpu_follows_the_measurement(probe, speedup, dtype):
    probe(speedup)
    chosen = choose_precision("auto", CPU)
    assert chosen.dtype == dtype
    assert "measured" in chosen.reason and speedup.rstrip("0").rstrip(".") in chosen.reason


def test_explicit_bf16_that_measured_slower_is_kept_and_said_once(probe, caplog):
    probe(SLOWER)
    with caplog.at_level(logging.WARNING, logger="vemd.device"):
        assert choose_precision("bf16", CPU).dtype == torch.bfloat16
        assert choose_precision("bf16", CPU).dtype == torch.bfloat16
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "2.5x slower" in lines[0]


def test_explicit_bf16_that_measured_faster_says_nothing(probe, caplog):
    probe(FASTER)
    with caplog.at_level(logging.WARNING, logger="vemd.device"):
        assert choose_precision("bf16", CPU).dtype == torch.bfloat16
    assert not caplog.records


@pytest.mark.parametrize(("bf16", "dtype"), [(True, torch.bfloat16), (False, torch.float16)])
def test_auto_on_a_gpu_is_bf16_where_supported_else_fp16(monkeypatch, bf16, dtype):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(device_module, "cpu_bf16_speedup", lambda: pytest.fail("a GPU needs no CPU probe"))
    assert choose_precision("auto", torch.device("cuda")).dtype == dtype


def test_unknown_precision_and_bad_pinned_answer_are_one_line_errors(probe):
    with pytest.raises(VemdError, match="--precision fp8"):
        choose_precision("fp8", CPU)
    probe("fast")
    with pytest.raises(VemdError, match=SPEEDUP_ENV):
        choose_precision("auto", CPU)


def test_the_probe_measures_once_per_machine_and_caches(monkeypatch, tmp_path):
    monkeypatch.delenv(SPEEDUP_ENV)
    monkeypatch.setenv("VEMD_CACHE_DIR", str(tmp_path))
    calls = []
    real = device_module.measure_bf16_probe

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(device_module, "measure_bf16_probe", counted)
    first = device_module.cpu_bf16_speedup()
    assert first > 0 and device_module.cpu_bf16_speedup() == pytest.approx(first, rel=1e-2)
    assert len(calls) == 1
    (entry,) = json.loads((tmp_path / "cpu_precision.json").read_text()).values()
    assert entry["fp32_ms"] > 0 and entry["bf16_ms"] > 0


# ---- where it is used --------------------------------------------------------------------------


@pytest.mark.parametrize(("speedup", "lightning"), [(FASTER, "bf16-mixed"), (SLOWER, "32-true")])
def test_fit_auto_follows_the_measurement_and_logs_why(probe, caplog, tmp_path, speedup, lightning):
    from vemd.config import load_config
    from vemd.train.fit import _trainer

    probe(speedup)
    with caplog.at_level(logging.INFO, logger="vemd.train.fit"):
        assert training_precision("auto", "cpu") == lightning
        trainer = _trainer(load_config("tiny", ["train.accelerator=cpu"]), tmp_path, max_epochs=1)
    assert trainer.precision == lightning
    assert any(lightning in r.getMessage() and "measured" in r.getMessage() for r in caplog.records)


def test_fit_keeps_an_explicit_bf16_that_measured_slower(probe, caplog):
    probe(SLOWER)
    with caplog.at_level(logging.WARNING):
        assert training_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert training_precision("bf16-mixed", "auto") == "bf16-mixed"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "precision bf16 as asked: this CPU ran bf16 2.5x slower than fp32 (matmul + conv probe); auto would pick fp32"
    ]
    assert training_precision("32-true", "cpu") == "32-true"


@pytest.mark.parametrize(("speedup", "name"), [(FASTER, "bf16"), (SLOWER, "fp32")])
def test_load_predict_and_serve_follow_the_measurement(probe, caplog, model_file, image, speedup, name):
    probe(speedup)
    predictor = vemd.load(model_file)
    assert predictor.precision.name == name
    assert predictor.predict(image).label in {"a", "b", "c"}

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vemd.inference.predictor"):
        assert main(["predict", str(image), "--ckpt", str(model_file), "--json"]) == 0
    assert any(f"auto: {name}, " in r.getMessage() for r in caplog.records)

    fastapi = pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
    del fastapi
    from fastapi.testclient import TestClient

    from vemd.serve.app import create_app

    with TestClient(create_app(model_file)) as client:
        info = client.get("/v1/model").json()
    assert info["precision"] == name and "measured" in info["precision_reason"]
