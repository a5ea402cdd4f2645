"""Values the schema's types take but no run can: each is one ConfigError line naming the key.

``inf`` passes ``> 0`` and ``nan`` every comparison, so every number of the schema is checked
finite; loss weights are checked >= 0, dropouts in [0, 1), sizes >= 1, and what one clip may
hold is bounded (:data:`vemd.config.MAX_CLIP_PIXELS`).
"""

from __future__ import annotations

import re

import pytest

from vemd import config
from vemd.config import load_config
from vemd.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("train.lr=inf", "train.lr=inf"),
        ("train.stage1_lr=inf", "train.stage1_lr=inf"),
        ("loss.body=nan", "loss.body=nan"),
        ("loss.face=-inf", "loss.face=-inf"),
        ("multimodal.lr=inf", "multimodal.lr=inf"),
        ("system.abaw24.kelm_C=[1.0,.inf]", "system.abaw24.kelm_C[1]=inf"),
        ("model.vit.kwargs.drop_path_rate=.nan", "model.vit.kwargs.drop_path_rate=nan"),
        ("data.frame_interval=.inf", "data.frame_interval=inf"),
    ],
)
def test_every_number_is_finite(override, named):
    with pytest.raises(ConfigError, match=f"^{re.escape(named)}: expected a finite number"):
        load_config("tiny", [override])


@pytest.mark.parametrize("key", ["cls", "body", "face", "mmd", "kl", "recon", "limb", "adj", "valence"])
def test_loss_weights_are_not_negative(key):
    with pytest.raises(ConfigError, match=f"^loss.{key}=-0.5: expected a number >= 0"):
        load_config("tiny", [f"loss.{key}=-0.5"])
    load_config("tiny", [f"loss.{key}=0"])  # a term switched off is fine


def test_mmd_bandwidths_are_positive():
    with pytest.raises(ConfigError, match=r"^loss.mmd_bandwidths=\[0.5, 0.0\]"):
        load_config("tiny", ["loss.mmd_bandwidths=[0.5,0.0]"])


@pytest.mark.parametrize(
    "key", ["model.emotion.dropout", "multimodal.audio.dropout", "multimodal.fusion.dropout"]
)
@pytest.mark.parametrize("value", ["5", "1.0", "-0.1"])
def test_dropouts_are_probabilities(key, value):
    with pytest.raises(ConfigError, match=f"^{key}={float(value)}: expected a dropout probability in"):
        load_config("tiny", [f"{key}={value}"])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("model.emotion.mlp_hidden=-3", "model.emotion.mlp_hidden=-3"),
        ("model.emotion.num_heads=0", "model.emotion.num_heads=0"),
        ("model.heatmap.num_stages=0", "model.heatmap.num_stages=0"),
        ("model.personquery.num_queries.body=0", "model.personquery.num_queries.body=0"),
        ("model.heatmap.up_channels=[32,0,8,8]", "model.heatmap.up_channels=[32, 0, 8, 8]"),
        ("model.cnn.custom_channels=[]", "model.cnn.custom_channels=[]"),
    ],
)
def test_model_sizes_are_at_least_one(override, named):
    with pytest.raises(ConfigError, match=f"^{re.escape(named)}: expected"):
        load_config("tiny", [override])


def test_sr_projection_is_null_or_positive():
    for value in ("-1", "0"):
        with pytest.raises(ConfigError, match="^model.sr.projection="):
            load_config("tiny", [f"model.sr.projection={value}"])
    assert load_config("tiny", ["model.sr.projection=null"]).model.sr.projection is None


def test_personquery_heads_divide_its_width():
    with pytest.raises(ConfigError, match="^model.personquery.num_heads=5 does not divide"):
        load_config("tiny", ["model.personquery.num_heads=5"])


def test_a_clip_holds_at_most_the_documented_pixels():
    with pytest.raises(ConfigError, match=r"^data.frames=100000 of 112×112 px: .* over the limit"):
        load_config("tiny", ["data.frames=100000"])  # `vemd predict` grew to 21.5 GB before OOM
    frames = config.MAX_CLIP_PIXELS // 224**2
    load_config("tiny", ["model.image_size=224", "model.vit.kwargs.img_size=224", f"data.frames={frames}"])
    with pytest.raises(ConfigError, match="^data.frames="):
        load_config(
            "tiny", ["model.image_size=224", "model.vit.kwargs.img_size=224", f"data.frames={frames + 1}"]
        )


def test_class_names_are_distinct():
    with pytest.raises(ConfigError, match="^data.class_names=.*'a' named more than once"):
        load_config("tiny", ["data.class_names=[a,b,a]"])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("data.flip_prob=2", "data.flip_prob"),
        ("data.scale=[0.9,0.5]", "data.scale"),
        ("data.scale=[0.5]", "data.scale"),
    ],
)
def test_augmentation_values(override, named):
    with pytest.raises(ConfigError, match=f"^{named}="):
        load_config("tiny", [override])


@pytest.mark.parametrize("base", ["42", "[1, 2]", "[]", "{a: b}"])
def test_a_base_that_is_not_a_recipe_name_is_one_line(tmp_path, base):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"base: {base}\n")
    with pytest.raises(ConfigError, match=f"^{recipe}: base=.*expected a recipe name or a list"):
        load_config(recipe)


def test_a_python_tag_in_an_override_is_refused_by_the_safe_loader(tmp_path):
    marker = tmp_path / "ran"
    tag = f"model.mode=!!python/object/apply:builtins.open [{marker}, w]"
    with pytest.raises(ConfigError, match="^override 'model.mode=!!python.*not a plain YAML value"):
        load_config("tiny", [tag])
    assert not marker.exists()
