import csv
import importlib.util
import json
import logging

import numpy as np
import pytest
from tests.models.helpers import tiny_model, write_model_file

from vemd.annotate.backends import offline_faces
from vemd.annotate.backends.offline_faces import face_counter
from vemd.cli import main
from vemd.config import ConfigError, load_config, to_dict
from vemd.data.dataset import ClipDataset
from vemd.data.manifest import ClipRecord, annotation_key
from vemd.eval.group_size import (
    DEFAULT_EDGES,
    bucket_labels,
    bucket_of,
    count_people,
    group_size_table,
    parse_edges,
    people_from_annotations,
    plot_group_size,
)
from vemd.structure.annotations import AnnotationStore, FrameAnnotation, Person
from vemd.systems import evaluate

BODY, FACE = np.ones((17, 3), np.float32), np.ones((68, 3), np.float32)


def _frame(*persons: tuple[bool, bool]) -> FrameAnnotation:
    return FrameAnnotation(
        64, 64, [Person(body=BODY if b else None, face=FACE if f else None) for b, f in persons]
    )


def test_buckets_from_edges():
    edges = parse_edges("1,2,4,8")
    assert edges == (1, 2, 4, 8)
    assert bucket_labels(edges) == ["1", "2–3", "4–7", "8+"]
    assert [bucket_of(n, edges) for n in (1, 3, 9, 2, 4, 7, 8)] == [
        "1",
        "2–3",
        "8+",
        "2–3",
        "4–7",
        "4–7",
        "8+",
    ]
    assert (
        bucket_of(0, edges) == "0" and bucket_of(1, (2, 5)) == "0–1" and bucket_of(None, edges) == "unknown"
    )
    assert bucket_labels(DEFAULT_EDGES) == ["1", "2–3", "4–6", "7–10", "11+"]
    assert parse_edges(" None ") is None


@pytest.mark.parametrize("text", ["2,2,4", "4,2", "0,1,2", "-1,3", "1,x", ""])
def test_bad_edges_are_one_line_errors(text):
    with pytest.raises(ConfigError, match=r"--group-sizes") as err:
        parse_edges(text)
    assert "\n" not in str(err.value)


def test_table_lists_every_edge_bucket_and_counts_in_order():
    counts = [1, 1, 3, 9, 0, None, 2]
    correct = [True, False, True, True, False, True, False]
    rows = group_size_table(counts, correct, (1, 2, 4, 8))
    assert [(r["bucket"], r["clips"], r["correct"]) for r in rows] == [
        ("0", 1, 0),
        ("1", 2, 1),
        ("2–3", 2, 1),
        ("4–7", 0, 0),
        ("8+", 1, 1),
        ("unknown", 1, 1),
    ]
    assert rows[1]["accuracy"] == 0.5 and rows[3]["accuracy"] is None and rows[3]["ci95"] is None
    low, high = rows[1]["ci95"]
    assert low < 0.5 < high


def test_people_from_a_store(tmp_path):
    with AnnotationStore(tmp_path / "ann", create=True) as store:
        store.add(annotation_key("a", 0), _frame((True, True), (True, True)))
        store.add(annotation_key("a", 7), _frame((True, False), (True, False), (True, True)))  # 3 bodies
        store.add(annotation_key("ab", 0), _frame((True, False), (False, True)))  # unpaired: one person
        store.add(annotation_key("x/y", 2), _frame((False, True), (False, True)))  # a clip id with a slash
        store.add(annotation_key("empty", 0), _frame())
        store.add(annotation_key("other", 0), _frame((True, True)))
    store = AnnotationStore(tmp_path / "ann")
    counts = people_from_annotations(store, ["a", "ab", "x/y", "empty", "missing"])
    assert counts == {"a": 3, "ab": 1, "x/y": 2, "empty": 0}


def test_a_configured_store_is_found_and_without_one_the_analysis_is_skipped(tmp_path, monkeypatch, caplog):
    with AnnotationStore(tmp_path / "annotations", create=True) as store:
        store.add(annotation_key("c0", 0), _frame((True, True)))
    records = [ClipRecord("c0", "val", "a", "c0.png"), ClipRecord("c1", "val", "a", "c1.png")]
    dataset = ClipDataset(records, tmp_path, ["a"])
    cfg = load_config("tiny", [f"data.root={tmp_path}"])
    assert count_people(dataset, cfg.data, ["c0", "c1"], face_counter) == ({"c0": 1}, "annotations")
    monkeypatch.setattr(offline_faces, "FACE_MODULES", ("no_such_face_module",))
    cfg = load_config("tiny", [f"data.root={tmp_path / 'elsewhere'}"])
    with caplog.at_level(logging.INFO, logger="vemd.eval.group_size"):
        assert count_people(dataset, cfg.data, ["c0", "c1"], face_counter) is None
    assert [r.getMessage() for r in caplog.records] == [
        "group size: skipped, no annotation store and no offline face detector "
        "(missing no_such_face_module: pip install 'vemd[annotate]')"
    ]


def test_without_a_store_or_a_face_counter_the_analysis_is_skipped(tmp_path, caplog):
    dataset = ClipDataset([ClipRecord("c0", "val", "a", "c0.png")], tmp_path, ["a"])
    cfg = load_config("tiny", [f"data.root={tmp_path}"])
    with caplog.at_level(logging.INFO, logger="vemd.eval.group_size"):
        assert count_people(dataset, cfg.data, ["c0"]) is None
    assert [r.getMessage() for r in caplog.records] == [
        "group size: skipped, no annotation store of the clips and no face counter given"
    ]


def test_plot(tmp_path):
    rows = group_size_table([1, 1, 2, 5, 5, 5, 12, None], [1, 0, 1, 1, 0, 0, 1, 1], DEFAULT_EDGES)
    path = plot_group_size(rows, 3, tmp_path / "group_size.png", "annotations")
    from matplotlib.image import imread

    image = imread(path)
    assert image.shape[0] > 200 and image[..., :3].std() > 0.01


def test_cli_help_names_the_default_edges(capsys):
    with pytest.raises(SystemExit):
        main(["test", "--help"])
    assert ",".join(map(str, DEFAULT_EDGES)) in " ".join(capsys.readouterr().out.split())


@pytest.fixture(scope="module")
def synth_val(tmp_path_factory):
    from vemd.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth") / "data"
    return generate_dataset(
        root, n_train=0, n_val=10, frames=2, seed=1, max_people=8, image_size=64, progress=False
    )


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    cfg, model = tiny_model()
    path = tmp_path_factory.mktemp("model") / "model.pt"
    write_model_file(path, to_dict(cfg), model.inference_state_dict())
    return path


def test_evaluate_reports_accuracy_by_group_size(synth_val, model_file, tmp_path):
    data_cfg = load_config("tiny", [f"data.root={synth_val}", "data.frames=2", "train.num_workers=0"])
    edges = (1, 2, 4, 7)
    metrics = evaluate(model_file, split="val", out_dir=tmp_path, data_cfg=data_cfg, group_sizes=edges)

    with (tmp_path / "predictions.csv").open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    with (tmp_path / "group_size.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    store = AnnotationStore(synth_val / "annotations")
    expected = {}  # bucket → [clips, correct], from the store and predictions.csv directly
    for row in predictions:
        frames = [store[annotation_key(row["item_id"], t)] for t in range(2)]
        people = max(max(f.num_bodies, f.num_faces) for f in frames)
        bucket = expected.setdefault(bucket_of(people, edges), [0, 0])
        bucket[0] += 1
        bucket[1] += row["true_label"] == row["pred_label"]
    assert sum(int(r["clips"]) for r in table) == len(predictions) == metrics["num_items"] == 10
    for row in table:
        clips, correct = expected.get(row["bucket"], [0, 0])
        assert (int(row["clips"]), int(row["correct"])) == (clips, correct)
        if clips:
            assert float(row["accuracy"]) == pytest.approx(correct / clips, abs=1e-4)
    saved = json.loads((tmp_path / "metrics.json").read_text())["group_size"]
    assert saved["source"] == "annotations" and saved["edges"] == list(edges)
    assert [b["clips"] for b in saved["buckets"]] == [int(r["clips"]) for r in table]
    assert metrics["group_size"]["buckets"][0]["bucket"] == table[0]["bucket"]
    assert (tmp_path / "group_size.png").stat().st_size > 1000


@pytest.mark.skipif(importlib.util.find_spec("dlib") is None, reason="the annotate extra is not installed")
def test_without_a_store_faces_are_counted(synth_val, tmp_path):
    from vemd.data.loaders import load_index

    index = load_index(load_config("tiny", [f"data.root={synth_val}", "data.frames=2"]).data, "val")
    dataset = ClipDataset(index.records[:2], index.root, index.class_names)
    no_store = load_config("tiny", [f"data.root={tmp_path}"]).data
    clip_ids = [r.clip_id for r in index.records[:2]]
    counts, source = count_people(dataset, no_store, clip_ids, face_counter)
    assert source == "faces" and set(counts) == set(clip_ids)
    assert all(isinstance(n, int) and n >= 0 for n in counts.values())
