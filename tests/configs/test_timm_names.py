"""Backbone names are checked at load time without importing timm for the names vemd's recipes
use (:data:`vemd.config.KNOWN_TIMM_MODELS`); any other name is still looked up in timm's
registry, and an unknown one is still a one-line error naming the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vemd.config import KNOWN_TIMM_MODELS, ConfigError, load_config

SRC = Path(__file__).resolve().parents[2] / "src"


def test_every_name_accepted_without_timm_is_in_timms_registry():
    from timm.models import is_model

    assert sorted(name for name in KNOWN_TIMM_MODELS if not is_model(name)) == []


def test_reading_every_shipped_recipe_and_a_model_files_config_imports_no_timm(tmp_path):
    code = """
import json, sys
from vemd.config import CONFIG_DIR, from_dict, load_config, to_dict
for path in sorted(CONFIG_DIR.rglob("*.yaml")):
    if not path.name.startswith("_"):
        load_config(path)
from_dict(to_dict(load_config("tiny", ["model.vit.name=vit_large_patch14_clip_224.openai", "model.cnn.name=resnet50.a1_in1k"])))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("timm", "torchvision", "torch"))))
"""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    "name",
    [
        "convnext_atto",
        "resnet18.a1_in1k",
        "vit_tiny_patch16_224.augreg_in21k",
        "hf-hub:timm/resnet18.a1_in1k",
    ],
)
def test_other_timm_names_are_looked_up_in_timms_registry(name):
    assert load_config("tiny", [f"model.cnn.name={name}"]).model.cnn.name == name


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.cnn.name=resnet50/a1", "model.cnn.name"),
        ("model.cnn.name=Resnet50", "model.cnn.name"),
        ("model.cnn.name=resnet5O.a1_in1k", "model.cnn.name"),
        ("model.vit.name=vit_tiny_patch16_225", "model.vit.name"),
    ],
)
def test_a_name_timm_does_not_know_is_one_line_naming_the_key(override, key):
    with pytest.raises(ConfigError) as info:
        load_config("tiny", [override])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{key}=")
