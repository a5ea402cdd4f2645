"""Where ``vemd fit`` trains, and that it never trains over a finished run unasked."""

from __future__ import annotations

import pytest

from vemd.cli import main
from vemd.config import load_config


def test_a_recipe_that_names_no_folder_trains_into_one_named_after_it(tmp_path):
    assert load_config("tiny").train.out_dir == "runs/tiny"
    assert load_config("quickstart").train.out_dir == "runs/quickstart"
    paper = "paper/dfew/ve-md_personquery_face_q1"
    assert load_config(paper).train.out_dir == f"runs/{paper}"
    mine = tmp_path / "my_recipe.yaml"
    mine.write_text("base: tiny\n")
    assert load_config(mine).train.out_dir == "runs/my_recipe"
    # a folder the recipe or an override names is kept
    named = tmp_path / "named.yaml"
    named.write_text(f"base: tiny\ntrain:\n  out_dir: {tmp_path / 'here'}\n")
    assert load_config(named).train.out_dir == str(tmp_path / "here")
    assert load_config("tiny", [f"train.out_dir={tmp_path}"]).train.out_dir == str(tmp_path)


def test_a_finished_run_is_refused_before_anything_is_read(tmp_path, capsys):
    (tmp_path / "model.pt").write_bytes(b"a finished run's model")
    args = ["fit", "--config", "tiny", "--set", f"train.out_dir={tmp_path}"]
    args += ["--set", f"data.root={tmp_path / 'no-data'}"]  # never read: the refusal comes first
    assert main(args) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vemd fit: error: ") and str(tmp_path / "model.pt") in line
    assert "--overwrite" in line and "--resume" in line
    assert (tmp_path / "model.pt").read_bytes() == b"a finished run's model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    # --overwrite goes on (to the missing data, here)
    assert main([*args, "--overwrite"]) == 1
    assert str(tmp_path / "no-data") in capsys.readouterr().err


def test_resume_and_overwrite_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", "tiny", "--resume", "--overwrite"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
