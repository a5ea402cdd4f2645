"""A manifest names its own dataset's files: an absolute path, or one whose ``..`` leads out of
ROOT, is a bad row (one line naming ``manifest.csv:LINE``), as is a class named twice."""

from __future__ import annotations

import json

import pytest
from layouts import make_synth

from vemd.data.manifest import read_manifest
from vemd.errors import DataError

HEADER = "clip_id,split,label,path,audio,va_file\n"


@pytest.mark.parametrize(
    ("row", "fault"),
    [
        ("x,train,neg,/etc/passwd,,", "path ./etc/passwd. is absolute; paths are relative"),
        ("x,train,neg,../other/s0.png,,", "path '../other/s0.png' leads out of the dataset folder"),
        ("x,train,neg,items/../../s0.png,,", "path 'items/../../s0.png' leads out"),
        ("x,train,neg,items/s0.png,/tmp/a.wav,", "audio '/tmp/a.wav' is absolute"),
        ("x,train,neg,items/s0.png,,../va.txt", "va_file '../va.txt' leads out"),
    ],
)
def test_a_path_outside_root_is_a_bad_row(tmp_path, row, fault):
    root = make_synth(tmp_path)
    (root / "manifest.csv").write_text(HEADER + "ok,train,neg,items/./s1/../s0.png,,\n" + row + "\n")
    with pytest.raises(DataError, match=f"^{root / 'manifest.csv'}:3: {fault}"):
        read_manifest(root)
    problems: list = []
    records, _ = read_manifest(root, problems)
    assert [r.clip_id for r in records] == ["ok"] and len(problems) == 1  # a path that stays inside is fine


def test_a_class_named_twice_is_refused(tmp_path):
    root = make_synth(tmp_path)
    (root / "classes.json").write_text(json.dumps({"class_names": ["neg", "pos", "neg"]}))
    with pytest.raises(
        DataError, match=f"^{root / 'classes.json'}: class_names=.*'neg' named more than once"
    ):
        read_manifest(root)


def test_the_csv_layout_keeps_its_paths_inside_root_too(tmp_path):
    from vemd.config import load_config
    from vemd.data.loaders import load_index

    (tmp_path / "train.csv").write_text("path,label\n../elsewhere.png,a\n")
    cfg = load_config(None, ["data.name=csv", f"data.root={tmp_path}"]).data
    with pytest.raises(DataError, match=f"^{tmp_path / 'train.csv'}:2: path '../elsewhere.png' leads out"):
        load_index(cfg, "train")
