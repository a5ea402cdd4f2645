"""Seed-system settings refused at load time with one line naming the key, and model files that
are not (or no longer) a system's refused by load_system with one line naming the file."""

from __future__ import annotations

import pytest
import torch
from tests.models.helpers import tiny_model, write_model_file
from tests.systems.conftest import ABAW24_RECIPE, ABAW24_TINY, EMOTIW20_RECIPE, EMOTIW20_TINY

from vemd.cli import main
from vemd.config import ConfigError, load_config, to_dict
from vemd.io import load_weights_only
from vemd.model_file import FORMAT, FORMAT_VERSION, read_model_file
from vemd.models.checkpoint import CheckpointError, weights_digest
from vemd.systems import SYSTEMS
from vemd.systems.common import load_system, save_system

CLASSES = ["Negative", "Neutral", "Positive"]


def build_system(cfg):
    """The untrained model of ``cfg``'s seed system, built by its registered system."""
    return SYSTEMS[cfg.system.kind].build(cfg)


def _error(recipe: str, *overrides: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(recipe, list(overrides))
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("recipe", [EMOTIW20_RECIPE, ABAW24_RECIPE])
def test_the_built_in_recipes_load(recipe):
    cfg = load_config(recipe)
    assert cfg.system.kind == recipe.split("/")[1].split("_")[0]
    assert not cfg.multimodal.enabled


@pytest.mark.parametrize(
    ("recipe", "override", "expected"),
    [
        (
            EMOTIW20_RECIPE,
            "system.kind=emotiw21",
            "system.kind='emotiw21': expected one of ve-md, emotiw20, abaw24",
        ),
        (
            EMOTIW20_RECIPE,
            "system.emotiw20.time_kernel=2",
            "system.emotiw20.time_kernel=2: expected an odd number",
        ),
        (EMOTIW20_RECIPE, "system.emotiw20.time_kernel=0", "system.emotiw20.time_kernel=0"),
        (EMOTIW20_RECIPE, "system.emotiw20.folds=1", "system.emotiw20.folds=1: expected an integer >= 2"),
        (EMOTIW20_RECIPE, "system.emotiw20.svm_C=0", "system.emotiw20.svm_C=0"),
        (EMOTIW20_RECIPE, "system.emotiw20.svm_kernel=cubic", "system.emotiw20.svm_kernel='cubic'"),
        (EMOTIW20_RECIPE, "system.emotiw20.audio.lr=-1", "system.emotiw20.audio.lr=-1"),
        (
            ABAW24_RECIPE,
            "system.abaw24.functionals=[mean,median]",
            "system.abaw24.functionals=['mean', 'median']",
        ),
        (ABAW24_RECIPE, "system.abaw24.functionals=[]", "system.abaw24.functionals=[]"),
        (
            ABAW24_RECIPE,
            "system.abaw24.kelm_C=[0,1.0]",
            "system.abaw24.kelm_C=[0.0, 1.0]: expected a list of numbers > 0",
        ),
        (ABAW24_RECIPE, "system.abaw24.kelm_C=[]", "system.abaw24.kelm_C=[]"),
        (ABAW24_RECIPE, "system.abaw24.fusion=mean", "system.abaw24.fusion='mean'"),
        (ABAW24_RECIPE, "system.abaw24.loss=l1", "system.abaw24.loss='l1'"),
        (
            ABAW24_RECIPE,
            "system.abaw24.dynamic_heads=3",
            "system.abaw24.dynamic_dim must be a multiple of dynamic_heads",
        ),
        (ABAW24_RECIPE, "system.abaw24.static.epochs=0", "system.abaw24.static.epochs=0"),
    ],
)
def test_bad_system_settings_name_their_key(recipe, override, expected):
    assert expected in _error(recipe, override)


def test_a_system_with_a_multimodal_section_is_refused():
    message = _error(EMOTIW20_RECIPE, "multimodal.enabled=true", "multimodal.audio.encoder=mel_cnn")
    assert message == "system.kind=emotiw20 is a system of its own: set multimodal.enabled=false"


@pytest.fixture(scope="module")
def system_file(tmp_path_factory):
    """An untrained ABAW 2024 model file (as save_system writes it), and its config."""
    cfg = load_config(ABAW24_RECIPE, list(ABAW24_TINY))
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("system") / "model.pt"
    save_system(build_system(cfg), cfg, CLASSES, path)
    return path, cfg


def test_an_untrained_system_file_loads_and_predicts(system_file):
    path, cfg = system_file
    model, loaded_cfg, names = load_system(path)
    assert read_model_file(path).system == "abaw24" and names == CLASSES and loaded_cfg == cfg
    assert model.kelm is None and model.forest is None and not model.training
    torch.manual_seed(0)
    assert weights_digest(model) == weights_digest(build_system(cfg))
    out = model.predict_clips(torch.zeros(2, 4, 3, 64, 64, dtype=torch.uint8))
    assert set(out) == {"valence", "arousal"} and out["valence"].shape == (2,)


def _refused(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_system(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_a_vemd_model_file_is_not_a_system(tmp_path):
    cfg, model = tiny_model()
    path = tmp_path / "vemd.pt"
    write_model_file(path, to_dict(cfg), model.inference_state_dict())
    assert read_model_file(path).system == "ve-md"
    assert "not a vemd system model file" in _refused(path)


def test_random_bytes_and_a_cut_file_are_refused(system_file, tmp_path):
    noise = tmp_path / "noise.pt"
    noise.write_bytes(
        torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).byte().numpy().tobytes()
    )
    with pytest.raises(CheckpointError):
        read_model_file(noise)
    assert "not a readable vemd model" in _refused(noise)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(system_file[0].read_bytes()[:5000])
    assert "not a readable vemd model" in _refused(cut)
    assert "no such model file" in _refused(tmp_path / "absent.pt")
    assert main(["test", "--ckpt", str(cut)]) == 1


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: d["state_dict"].pop("static_head.weight"), "weights do not match the system"),
        (lambda d: d["state_dict"].update({"static_head.weight": torch.zeros(3, 3)}), "weights do not match"),
        (
            lambda d: d["config"]["system"].update({"kind": "abaw25"}),
            "bad system model file: system.kind='abaw25'",
        ),
        (lambda d: d["config"]["system"]["abaw24"].update({"kelm": 1}), "bad system model file"),
        (lambda d: d.pop("class_names"), "damaged vemd model file (class_names is not a list of names)"),
    ],
)
def test_a_damaged_system_file_is_refused_in_one_line(system_file, tmp_path, damage, expected):
    data = load_weights_only(system_file[0])
    assert (data["format"], data["format_version"], data["system"]) == (FORMAT, FORMAT_VERSION, "abaw24")
    assert FORMAT_VERSION == 2
    damage(data)
    path = tmp_path / "damaged.pt"
    torch.save(data, path)
    assert expected in _refused(path)


def test_an_emotiw20_system_file_without_svm_scores_loads_without_an_svm(tmp_path):
    cfg = load_config(EMOTIW20_RECIPE, list(EMOTIW20_TINY))
    path = save_system(build_system(cfg), cfg, CLASSES, tmp_path / "model.pt")
    model, _, _ = load_system(path)
    assert model.svm is None and model.svm_scores.shape == (0, 6)
