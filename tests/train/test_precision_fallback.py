"""train.precision asking for bf16 on a CPU without native bf16 trains in fp32, with one warning."""

import logging

import pytest

from vemd import device as device_module
from vemd.train.fit import training_precision


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("vemd.train.fit._mps_available", lambda: False)


@pytest.mark.parametrize("accelerator", ["cpu", "auto"])
def test_bf16_falls_back_to_fp32_without_native_bf16(monkeypatch, caplog, no_gpu, accelerator):
    monkeypatch.setattr(device_module, "cpu_bf16_native", lambda: False)
    with caplog.at_level(logging.WARNING, logger="vemd.train.fit"):
        assert training_precision("bf16-mixed", accelerator) == "32-true"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "no native bf16" in lines[0] and "bf16-mixed" in lines[0]


def test_bf16_kept_on_a_cpu_with_native_bf16(monkeypatch, caplog, no_gpu):
    monkeypatch.setattr(device_module, "cpu_bf16_native", lambda: True)
    with caplog.at_level(logging.WARNING):
        assert training_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert training_precision("bf16-true", "auto") == "bf16-true"
    assert not caplog.records


def test_bf16_kept_on_a_gpu_and_other_precisions_untouched(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_bf16_native", lambda: False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert training_precision("bf16-mixed", "auto") == "bf16-mixed"
    assert training_precision("bf16-mixed", "gpu") == "bf16-mixed"
    assert training_precision("32-true", "cpu") == "32-true"
    assert training_precision("16-mixed", "cpu") == "16-mixed"


def test_probe_answers_a_bool():
    assert isinstance(device_module.cpu_bf16_native(), bool)
