"""Writing SynthGroups to disk: determinism, layout, resuming, and the CLI."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vemd.cli import main
from vemd.data.manifest import annotation_key, read_manifest
from vemd.errors import DataError
from vemd.structure.annotations import AnnotationStore
from vemd.synth import generate_dataset

OPTIONS = {"n_train": 6, "n_val": 3, "n_test": 3, "frames": 2, "seed": 11, "max_people": 5}


def _checksum(root: Path) -> str:
    """Hash of every file's bytes, except annotation shards whose arrays are hashed (zip headers hold a time)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        if path.suffix == ".npz":
            with np.load(path) as data:
                for key in sorted(data.files):
                    digest.update(key.encode() + data[key].tobytes())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("serial") / "sg", progress=False, **OPTIONS)


def test_same_seed_gives_identical_files_with_one_or_two_workers(dataset, tmp_path):
    again = generate_dataset(tmp_path / "parallel", workers=2, progress=False, **OPTIONS)
    assert _checksum(again) == _checksum(dataset)
    other = generate_dataset(tmp_path / "other", progress=False, **{**OPTIONS, "seed": 12})
    assert _checksum(other) != _checksum(dataset)


def test_layout_is_readable_by_the_generic_reader(dataset):
    records, class_names = read_manifest(dataset)
    assert class_names == ["Negative", "Neutral", "Positive"]
    assert json.loads((dataset / "classes.json").read_text())["task"] == "ger"
    assert [sum(r.split == s for r in records) for s in ("train", "val", "test")] == [6, 3, 3]
    assert (
        sorted(r.label for r in records if r.split == "train")
        == ["Negative"] * 2 + ["Neutral"] * 2 + ["Positive"] * 2
    )
    store = AnnotationStore(dataset / "annotations")
    assert len(store) == 12 * 2
    for record in records:
        frames = sorted((dataset / record.path).glob("*.png"))
        assert [f.name for f in frames] == ["00.png", "01.png"]
        for t in range(2):
            annotation = store[annotation_key(record.clip_id, t)]
            assert (annotation.width, annotation.height) == (224, 224)
            assert 1 <= len(annotation.persons) <= 5
    saved = json.loads((dataset / "dataset.json").read_text())["options"]
    assert saved["seed"] == 11 and saved["frames"] == 2


def test_a_killed_run_resumes_to_the_same_dataset(dataset, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(dataset, partial)
    (partial / "manifest.csv").unlink()
    shards = sorted((partial / "annotations").glob("shard-*.npz"))
    shards[-1].unlink()  # the last flush never happened
    shutil.rmtree(partial / "frames" / "test-000002")
    (partial / "frames" / ".partial-test-000002").mkdir()  # a clip killed while being written
    generate_dataset(partial, progress=False, **OPTIONS)
    records, _ = read_manifest(partial)
    store = AnnotationStore(partial / "annotations")
    assert len(records) == 12 and len(store) == 24
    assert not (partial / "frames" / ".partial-test-000002").exists()
    for record in records:
        for t in range(2):
            key = annotation_key(record.clip_id, t)
            expected = AnnotationStore(dataset / "annotations")[key]
            assert [p.body.tobytes() for p in store[key].persons] == [
                p.body.tobytes() for p in expected.persons
            ]
    original = {p.relative_to(dataset): p.read_bytes() for p in (dataset / "frames").rglob("*.png")}
    assert original == {p.relative_to(partial): p.read_bytes() for p in (partial / "frames").rglob("*.png")}


def test_other_options_in_the_same_folder_are_refused(dataset):
    with pytest.raises(DataError, match="dataset.json"):
        generate_dataset(dataset, progress=False, **{**OPTIONS, "seed": 99})


def test_cli_end_to_end_with_previews(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["synth", "--out", str(out), "--n-train", "3", "--n-val", "3", "--frames", "1", "--seed", "3"]
    assert main([*argv, "--task", "ier", "--annotation-noise", "0.2", "--preview"]) == 0
    records, _ = read_manifest(out)
    assert len(records) == 6 and all((out / r.path / "00.png").is_file() for r in records)
    assert json.loads((out / "classes.json").read_text())["task"] == "ier"
    assert (out / "previews" / "contact_sheet.png").stat().st_size > 0
    assert (out / "previews" / "annotations.png").stat().st_size > 0
    assert main([*argv, "--task", "ger"]) == 1
    assert "dataset.json" in capsys.readouterr().err
