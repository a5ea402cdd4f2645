"""`vemd annotate NAME ROOT` on a miniature copy of each layout: the store it writes is the one
`vemd data check` and `vemd fit` read, key for key."""

from __future__ import annotations

import json
import os

import pytest
from layouts import LAYOUTS, make_folder
from tests.annotate.helpers import stub_backend

from vemd.cli import main
from vemd.commands.common import dataset_config
from vemd.data.build import build_dataset
from vemd.errors import DataError
from vemd.structure.annotations import AnnotationStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class KeySpy:
    """An annotation store that records the keys looked up in it."""

    def __init__(self, store: AnnotationStore) -> None:
        self.store, self.looked_up = store, set()

    def get(self, key: str):
        self.looked_up.add(key)
        return self.store.get(key)


def annotate(*args: str) -> int:
    with stub_backend() as name:
        return main(["annotate", *args, "--backend", name, "--no-progress"])


def check(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    status = main(["data", "check", *args, "--json"])
    return status, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_annotating_through_the_loader_covers_what_training_reads(name, tmp_path, capsys):
    root = LAYOUTS[name](tmp_path / name)
    assert annotate(name, str(root)) == 0
    store = AnnotationStore(root / "annotations")
    train = "train"
    status, report = check(capsys, name, str(root), "--split", train)
    assert status == 0, report["problems"]
    assert report["coverage"]["frames"] == len(store) > 0
    assert report["coverage"]["fraction"] == 1.0

    overrides = ["model.mode=ve-md", f"model.num_classes={len(report['class_names'])}"]
    cfg = dataset_config(name, str(root), None, overrides)
    dataset, index = build_dataset(cfg, train, train=True)
    assert len(dataset) == len(index.records) == sum(report["counts"][train].values())
    spy = dataset.annotations = KeySpy(dataset.annotations)
    for item in range(len(dataset)):
        assert dataset[item]["target_mask"].all()
    assert spy.looked_up == set(store.keys())


def test_a_store_of_other_keys_is_one_line_naming_both_sides(tmp_path, capsys):
    root = make_folder(tmp_path / "faces")
    store = tmp_path / "faces" / "annotations"
    assert annotate(str(root / "train"), "--out", str(store)) == 0  # keys of plain files
    status, report = check(capsys, "folder", str(root))
    assert status == 1 and report["coverage"]["annotated"] == 0
    [problem] = [p for p in report["problems"] if p["kind"] == "annotations"]
    expected = (
        f"no key in common with the train split of folder at {root} (store: 'happy/a.jpg/0', "
        f"dataset: 'train/happy/a/0'); annotate with `vemd annotate folder {root}`"
    )
    assert (problem["path"], problem["message"]) == (str(store), expected)

    cfg = dataset_config("folder", str(root), None, ["model.mode=ve-md", "model.num_classes=2"])
    with pytest.raises(DataError) as err:
        build_dataset(cfg, "train", train=True)
    assert str(err.value) == f"{store}: {expected}"
    capsys.readouterr()
    fit = ["fit", "--config", "tiny", "--set", "data.name=folder", "--set", f"data.root={root}"]
    assert main([*fit, "--set", "model.num_classes=2", "--set", f"train.out_dir={tmp_path / 'run'}"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vemd fit: error: ") and "no key in common" in line


def test_the_suggested_command_carries_the_settings_that_change_keys(tmp_path, capsys):
    root = make_folder(tmp_path / "faces")
    store = tmp_path / "elsewhere"
    assert annotate(str(root / "train"), "--out", str(store)) == 0
    settings = [f"data.annotations={store}", "data.frames=3", "data.sampling=fps", "data.frame_interval=0.2"]
    args = [f"--set={s}" for s in settings]
    status, report = check(capsys, "folder", str(root), *args)
    [problem] = [p for p in report["problems"] if p["kind"] == "annotations"]
    command = problem["message"].rpartition("annotate with `")[2].rstrip("`")
    assert command.split() == ["vemd", "annotate", "folder", str(root)] + [
        w for s in settings for w in ("--set", s)
    ]
    assert annotate(*command.split()[2:]) == 0
    status, report = check(capsys, "folder", str(root), *args)
    assert status == 0 and report["coverage"]["fraction"] == 1.0


def test_recipe_mode_annotates_what_a_tiny_fit_step_trains_on(tmp_path, capsys):
    root = make_folder(tmp_path / "faces")
    recipe = ["--config", "tiny", "--set", "data.name=folder", "--set", f"data.root={root}"]
    assert annotate(*recipe) == 0
    status, report = check(capsys, *recipe, "--split", "train")
    assert status == 0 and report["coverage"]["fraction"] == 1.0 and report["frames"] == 4
    run = tmp_path / "run"
    train = [f"train.{k}" for k in ("max_steps=1", "batch_size=2", "log_every_n_steps=1", f"out_dir={run}")]
    small = ["model.heatmap.up_channels=[16,8,8,8]", "model.heatmap.stage_channels=8", "train.stage=2"]
    sets = [w for s in ["model.num_classes=2", *train, *small] for w in ("--set", s)]
    assert main(["fit", *recipe, *sets]) == 0
    header, *rows = (run / "stage2" / "logs" / "metrics.csv").read_text().splitlines()
    column = header.split(",").index("train/loss_body")
    assert float(next(r.split(",")[column] for r in rows if r.split(",")[column])) > 0


def test_dataset_options_that_would_misalign_the_store_are_refused(tmp_path, capsys):
    root = make_folder(tmp_path / "faces")
    assert annotate("folder", str(root), "--frames", "3") == 1
    assert "--set data.frames=" in capsys.readouterr().err
    assert annotate("folder") == 1  # a NAME without ROOT is an INPUT, which needs --out
    assert annotate(str(root), "--set", "data.frames=3", "--out", str(tmp_path / "x")) == 1


def test_preview_of_a_dataset_store_names_the_key_mismatch_or_draws(tmp_path, capsys):
    root = LAYOUTS["gaf3"](tmp_path / "gaf3")
    assert annotate("gaf3", str(root)) == 0
    capsys.readouterr()
    args = ["annotate", "preview", str(root / "annotations"), "--media", str(root), "--n", "2"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "vemd annotate NAME ROOT --preview N" in err
    assert annotate("gaf3", str(root), "--preview", "2", "--preview-dir", str(tmp_path / "drawn")) == 0
    assert len(list((tmp_path / "drawn").glob("*.png"))) == 2


def test_a_synth_set_is_annotated_at_the_frame_count_it_records(tmp_path, capsys):
    """`vemd annotate synth ROOT` samples the T of the set's dataset.json, as data check and fit do."""
    from vemd.synth.generate import FORMAT

    root = LAYOUTS["synth"](tmp_path / "synth")
    (root / "dataset.json").write_text(json.dumps({"format": FORMAT, "options": {"frames": 6}}))
    assert annotate("synth", str(root)) == 0
    keys = AnnotationStore(root / "annotations").keys()
    assert sorted(k for k in keys if k.startswith("s1/")) == [f"s1/{i}" for i in range(6)]
    status, report = check(capsys, "synth", str(root), "--split", "train")
    assert status == 0 and report["frames"] == 6 and report["coverage"]["fraction"] == 1.0
