"""A tiny vemd model file (random weights, classes a, b, c) shared by the inference tests."""

import pytest
from tests.models.helpers import tiny_model, write_model_file

from vemd.config import to_dict


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    # data.name=folder: not the built-in synthetic data, so no caveat line in these tests
    # (test_training_data.py has the caveat)
    cfg, model = tiny_model("data.name=folder")
    path = tmp_path_factory.mktemp("model") / "model.pt"
    write_model_file(path, to_dict(cfg), model.inference_state_dict())
    return path
