"""A tiny vemd model file (random weights, classes a, b, c) shared by the serve tests."""

import pytest
from tests.models.helpers import tiny_model, write_model_file

from vemd.config import to_dict


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    cfg, model = tiny_model()
    path = tmp_path_factory.mktemp("model") / "model.pt"
    write_model_file(path, to_dict(cfg), model.inference_state_dict())
    return path
