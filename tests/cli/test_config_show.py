"""``vemd config show RECIPE [--set ...]`` prints the config ``vemd fit`` would train with."""

from __future__ import annotations

import yaml

from vemd.cli import main
from vemd.config import load_config, to_dict


def test_show_prints_the_resolved_config_of_a_recipe_and_its_overrides(tmp_path, capsys):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("base: tiny\ntrain:\n  batch_size: 3\n")
    overrides = ["train.lr=0.5", "model.personquery.num_queries.body=2"]
    assert main(["config", "show", str(recipe), *[a for o in overrides for a in ("--set", o)]]) == 0
    printed = capsys.readouterr().out
    shown = yaml.safe_load(printed)
    assert shown == to_dict(load_config(recipe, overrides))  # vemd fit's resolution, all of it
    assert shown["train"]["batch_size"] == 3 and shown["train"]["lr"] == 0.5
    assert shown["train"]["out_dir"] == "runs/mine"  # the run folder named after the recipe
    assert shown["model"]["image_size"] == load_config("tiny").model.image_size  # from its base
    # the printed YAML is itself a recipe that resolves to the same config
    (tmp_path / "shown.yaml").write_text(printed)
    assert to_dict(load_config(tmp_path / "shown.yaml")) == shown


def test_a_bad_override_or_recipe_is_one_line(capsys):
    assert main(["config", "show", "tiny", "--set", "train.no_such_key=1"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vemd config: error: ") and "no_such_key" in line
    assert main(["config", "show", "no-such-recipe"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vemd config: error: no-such-recipe: no such config file")
