"""Bad config values and unreadable recipe files stop at load time with one line naming the key
(or the file), the bad value and what is allowed; every shipped recipe still loads."""

from __future__ import annotations

import typing

import pytest
from omegaconf import OmegaConf

from vemd.config import CONFIG_DIR, PRECISIONS, ConfigError, from_dict, load_config, to_dict


def _error(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config("tiny", overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.batch_size=0", "train.batch_size=0"),
        ("train.checkpoint_every_n_steps=0", "train.checkpoint_every_n_steps=0"),
        ("train.log_every_n_steps=-1", "train.log_every_n_steps=-1"),
        ("train.early_stopping_patience=0", "train.early_stopping_patience=0"),
        ("train.weight_decay=-0.1", "train.weight_decay=-0.1"),
        ("train.grad_clip=-1", "train.grad_clip=-1"),
        ("train.warmup_fraction=1.0", "train.warmup_fraction=1.0"),
        ("train.batch_size=-3", "train.batch_size=-3"),
        ("train.lr=0", "train.lr=0"),
        ("train.lr=-0.001", "train.lr=-0.001"),
        ("train.lr=.nan", "train.lr=nan"),
        ("train.stage1_lr=0", "train.stage1_lr=0"),
        ("train.optimizer=rmsprop", "train.optimizer='rmsprop'"),
        ("train.stage1_optimizer=lbfgs", "train.stage1_optimizer='lbfgs'"),
        ("train.precision=8", "train.precision='8'"),
        ("train.precision=half", "train.precision='half'"),
        ("train.accelerator=gpus", "train.accelerator='gpus'"),
        ("data.sampling=random", "data.sampling='random'"),
        ("data.frames=0", "data.frames=0"),
        ("model.image_size=0", "model.image_size=0"),
        ("model.latent_dim=-1", "model.latent_dim=-1"),
        ("model.latent_size=0", "model.latent_size=0"),
        ("train.max_epochs=0", "train.max_epochs=0"),
        ("train.max_epochs=-2", "train.max_epochs=-2"),
        ("train.max_epochs=-1", "train.max_epochs=-1"),  # unlimited epochs need a step or time limit
        ("train.max_steps=0", "train.max_steps=0"),
        ("train.max_steps=-5", "train.max_steps=-5"),
        ("train.num_workers=-1", "train.num_workers=-1"),
        ("model.vit.name=vit_nonexistent_patch99", "model.vit.name='vit_nonexistent_patch99'"),
        ("model.cnn.name=resnet5O", "model.cnn.name='resnet5O'"),
    ],
)
def test_bad_value_is_one_line_naming_key_and_value(override, expected):
    message = _error([override])
    assert expected in message
    assert "expected" in message  # what is allowed


def test_stage1_epochs_checked_only_when_stage1_runs():
    assert "train.stage1_epochs=0" in _error(["train.stage=both", "train.stage1_epochs=0"])
    assert load_config("tiny", ["train.stage=2", "train.stage1_epochs=0"]).train.stage1_epochs == 0


def test_unlimited_epochs_with_a_step_limit_loads():
    cfg = load_config("tiny", ["train.max_epochs=-1", "train.max_steps=10"])
    assert (cfg.train.max_epochs, cfg.train.max_steps) == (-1, 10)


@pytest.mark.parametrize("precision", ["32", "16-mixed", "bf16-mixed", "64", "bf16", "32-true"])
def test_lightning_precisions_load(precision):
    assert load_config("tiny", [f"train.precision={precision}"]).train.precision == precision


def test_precision_list_is_lightnings_and_auto():
    """Lightning's precisions, and vemd's measured ``auto`` (resolved before Lightning sees it)."""
    from lightning_fabric.connector import _PRECISION_INPUT

    accepted = {str(a) for arg in typing.get_args(_PRECISION_INPUT) for a in typing.get_args(arg)}
    assert set(PRECISIONS) == accepted | {"auto"}


@pytest.mark.parametrize("accelerator", ["cpu", "gpu", "cuda", "mps", "tpu", "auto"])
def test_lightning_accelerators_load(accelerator):
    assert load_config("tiny", [f"train.accelerator={accelerator}"]).train.accelerator == accelerator


def test_timm_names_with_a_pretrained_tag_and_vemd_names_load():
    cfg = load_config("tiny", ["model.vit.name=vit_large_patch14_clip_224.openai", "model.cnn.name=plain"])
    assert cfg.model.cnn.name == "plain"
    assert load_config("tiny", ["model.cnn.name=resnet18"]).model.cnn.name == "resnet18"


def test_disabled_vit_needs_no_valid_name():
    cfg = load_config("tiny", ["model.vit.enabled=false", "model.vit.name=not_a_model"])
    assert not cfg.model.vit.enabled


def test_from_dict_checks_values_too():
    data = to_dict(load_config("tiny"))
    data["train"]["batch_size"] = 0
    with pytest.raises(ConfigError, match=r"train\.batch_size=0"):
        from_dict(data)


def test_every_shipped_recipe_loads():
    recipes = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if not p.name.startswith("_"))
    assert len(recipes) > 100
    for path in recipes:
        load_config(path)


@pytest.mark.parametrize(
    "recipe",
    ["quickstart", "default", "quickstart_multimodal", "systems/emotiw20_synth", "systems/abaw24_synth"],
)
def test_to_dict_is_the_tree_omegaconf_makes(recipe):
    """Checkpoints store to_dict's tree and resume compares it: same keys, order, values and types."""
    cfg = load_config(recipe)
    expected = OmegaConf.to_container(OmegaConf.structured(cfg))
    assert repr(to_dict(cfg)) == repr(expected)
    assert from_dict(to_dict(cfg)) == cfg


BAD_FILES = {
    "broken.yaml": b"model: [\n",
    "list.yaml": b"- a\n- b\n",
    "scalar.yaml": b"42\n",
    "string.yaml": b"just words\n",
    "binary.yaml": bytes(range(256)) * 4,
    "nul.yaml": b"model:\x00\x01\x02\n",
    "empty.yaml": b"",
    "comments.yaml": b"# nothing here\n",
    "latin1.yaml": "model:\n  mode: 'caf\xe9'\n".encode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_unreadable_recipe_is_one_line_naming_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))


def test_folder_as_recipe_is_one_line(tmp_path):
    folder = tmp_path / "recipe.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match=r"recipe\.yaml: .*folder"):
        load_config(folder)


def test_unreadable_base_names_the_base(tmp_path):
    (tmp_path / "bad.yaml").write_bytes(b"model: [\n")
    (tmp_path / "top.yaml").write_text("base: bad\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: "):
        load_config(tmp_path / "top.yaml")


def test_accelerator_list_is_lightnings():
    from pytorch_lightning.accelerators import AcceleratorRegistry

    from vemd.config import ACCELERATORS

    assert set(ACCELERATORS) == {"auto", "gpu", *AcceleratorRegistry.available_accelerators()}
