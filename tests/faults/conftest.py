"""Material shared by the fault-injection cases: a small valid dataset and a tiny model file."""

import os

import pytest
import torch
from tests.faults.cases import CLASS_NAMES
from tests.models.helpers import tiny_model, write_model_file

from vemd.config import to_dict


@pytest.fixture(scope="session")
def base_dataset(tmp_path_factory):
    """What ``vemd synth --n-train 4 --n-val 2 --frames 1 --image-size 64`` writes."""
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("faults-data") / "D"
    return generate_dataset(root, n_train=4, n_val=2, frames=1, image_size=64, seed=0, progress=False)


@pytest.fixture(scope="session")
def base_model(tmp_path_factory):
    """A valid tiny model.pt (random weights) over the dataset's classes."""
    cfg, model = tiny_model()
    path = tmp_path_factory.mktemp("faults-model") / "model.pt"
    write_model_file(path, to_dict(cfg), model.inference_state_dict())
    data = torch.load(path, weights_only=True)
    data["class_names"] = list(CLASS_NAMES)
    torch.save(data, path)
    return path


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CI", os.environ.get("CI", "1"))
