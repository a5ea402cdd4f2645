"""Settings the schema takes but no working model: one ConfigError line when the model is built
(:func:`vemd.models.build.check_buildable` builds it on the meta device and runs one frame)."""

from __future__ import annotations

import pytest
from tests.models.helpers import tiny_config

from vemd.errors import ConfigError
from vemd.models import build_model


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model.image_size=1"],
            r"^model.image_size=1 but the ViT \(vit_tiny_patch16_224\) reads 64×64 frames",
        ),
        (["model.emotion.num_heads=5"], "not divisible by num_heads=5"),
        (["model.vit.kwargs.depth=-1"], "^model settings that do not make a working model: "),
        (["model.vit.kwargs.num_heads=5"], "^model settings that do not make a working model: "),
        (["model.emotion.phi=sideways"], "model.emotion.phi must be one of"),
        (["model.image_size=8", "model.vit.kwargs.img_size=8"], "Kernel size can't be greater"),
    ],
)
def test_a_model_that_cannot_be_built_or_run_is_one_config_error(overrides, message):
    cfg = tiny_config(*overrides)  # the schema takes each of these
    with pytest.raises(ConfigError, match=message) as info:
        build_model(cfg.model)
    assert len(str(info.value).splitlines()) == 1


def test_working_settings_build_and_are_checked_once():
    from vemd.models import build

    cfg = tiny_config("model.image_size=16", "model.vit.kwargs.img_size=16")  # a 1×1 token grid works
    model = build_model(cfg.model)
    assert repr(cfg.model) in build._BUILDABLE
    assert next(model.parameters()).device.type == "cpu"  # the check's meta model is not the one built
