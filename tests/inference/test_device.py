"""--device for vemd predict and vemd test: the CPU here, one line for a device that is not there."""

import pytest
import torch
from tests.data import bad_media

from vemd.cli import main
from vemd.device import resolve_device
from vemd.errors import VemdError
from vemd.inference.predictor import GroupEmotionPredictor


def test_auto_and_cpu_resolve_to_a_device_that_exists():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    assert resolve_device("auto").type in {expected, "cpu", "mps"} - {None}


@pytest.mark.parametrize("name", ["cuda:64", "tpu", "gpu0", ""])
def test_a_device_that_is_not_here_is_one_line(name):
    with pytest.raises(VemdError, match=f"^--device {name}: ") as info:
        resolve_device(name)
    assert "\n" not in str(info.value)


def test_predict_runs_on_the_device_asked_for(model_file, tmp_path, capsys):
    image = bad_media.good_png(tmp_path)
    on_cpu = GroupEmotionPredictor(model_file, device="cpu")
    assert next(on_cpu.artifact.model.parameters()).device == torch.device("cpu")
    assert main(["predict", str(image), "--ckpt", str(model_file), "--device", "auto", "--json"]) == 0
    assert '"label"' in capsys.readouterr().out
    assert main(["predict", str(image), "--ckpt", str(model_file), "--device", "cuda:64"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "vemd predict: error: --device cuda:64: no such CUDA device " + (
        f"({torch.cuda.device_count()} visible)"
    )


def test_vemd_test_takes_a_device(tmp_path, capsys):
    assert main(["test", "--ckpt", str(tmp_path / "none.pt"), "--device", "nonsense"]) == 1
    assert "--device nonsense: not a device" in capsys.readouterr().err
