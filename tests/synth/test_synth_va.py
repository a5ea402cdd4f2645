"""SynthGroups valence/arousal targets (``vemd synth --va``): the rule, the files, the manifest,
determinism and resuming, and that the option leaves the frames alone."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from vemd.cli import main
from vemd.data.dataset import ClipDataset
from vemd.data.manifest import read_manifest
from vemd.data.va import read_va_file
from vemd.synth import generate_dataset
from vemd.synth.affect import FULL_MOTION, clip_affect, clip_means
from vemd.synth.face import FacePalette
from vemd.synth.generate import SynthOptions, make_clip, make_va, split_labels
from vemd.synth.person import Look, PersonSpec
from vemd.synth.scene import Scene, SceneOptions

OPTIONS = {"n_train": 6, "n_val": 3, "n_test": 3, "frames": 3, "seed": 8, "image_size": 64, "max_people": 5}
_GREY = (128, 128, 128)
_LOOK = Look(_GREY, _GREY, _GREY, _GREY, FacePalette(_GREY, _GREY, _GREY, _GREY), 0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("va") / "sg", progress=False, va=True, **OPTIONS)


def _files(root: Path, folder: str) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted((root / folder).rglob("*")) if p.is_file()
    }


def _person(**fields) -> PersonSpec:
    base = {"x": 50.0, "y": 50.0, "size": 20.0, "variant": 0, "jitter": (0.0,) * 4, "look": _LOOK}
    return PersonSpec(**{**base, **fields})


def test_the_rule_on_a_hand_made_scene():
    # A: positive, intensity 0.8, inactive at frame 1, mouth 0.5, drifting 0.1 face heights a frame.
    # B: negative at full intensity, mouth closed, still.
    a = _person(valence=1, intensity=0.8, opening=0.5, active=(True, False, True), sway=(0.0, 0.0, 0.1))
    b = _person(valence=-1, intensity=1.0, opening=0.0, active=(True,) * 3, sway=(0.0, 0.0, 0.0))
    scene = Scene(2, (a, b), 0, ((0, 0, 1), (0, 0, 1)), SceneOptions(image_size=64, frames=3))
    shares = np.array([[1.0, 1.0], [1.0, 0.5], [0.0, 0.0]])  # B half hidden at 1; no face at 2
    motion = 0.1 / FULL_MOTION
    arousal_a = [0.5 + motion - 1, 0.15 * 0.5 + motion - 1]  # active, inactive (mouth at 0.15)
    expected = [
        [(0.8 - 1.0) / 2, (arousal_a[0] - 1.0) / 2],
        [(0.0 - 0.5) / 1.5, (arousal_a[1] - 0.5) / 1.5],
        [math.nan, math.nan],
    ]
    values = clip_affect(scene, shares)
    np.testing.assert_allclose(values, expected, atol=5e-5)
    assert values[0, 1] == pytest.approx(-0.4167, abs=1e-9)  # rounded to the files' 4 decimals
    valence, arousal = clip_means(values)
    assert valence == pytest.approx((-0.1 - 1 / 3) / 2, abs=1e-4)
    assert arousal == pytest.approx((-0.4167 - 0.5056) / 2, abs=1e-4)
    assert clip_means(np.full((2, 2), np.nan)) == (None, None)
    still = Scene(2, (a,), 0, ((0, 0, 1), (0, 0, 1)), SceneOptions(image_size=64, frames=1))
    single = clip_affect(still, np.ones((1, 1)))  # one frame shows no motion
    np.testing.assert_allclose(single, [[0.8, 0.5 - 1]])


def test_files_and_manifest_hold_the_targets(dataset):
    records, _ = read_manifest(dataset)
    header = (dataset / "manifest.csv").read_text().splitlines()[0]
    assert header == "clip_id,split,label,path,valence,arousal,va_file"
    assert json.loads((dataset / "dataset.json").read_text())["options"]["va"] is True
    options = SynthOptions(**OPTIONS, va=True)
    labels = {s: split_labels(options, s) for s in ("train", "val", "test")}
    assert sorted(p.name for p in (dataset / "va").iterdir()) == sorted(f"{r.clip_id}.txt" for r in records)
    for record in records:
        assert record.va_file == f"va/{record.clip_id}.txt"
        values = read_va_file(dataset / record.va_file)
        assert values.shape == (3, 2) and np.isfinite(values).all()
        assert np.all((values >= -1) & (values <= 1))
        assert record.valence == pytest.approx(float(values[:, 0].mean()), abs=1e-4)
        assert record.arousal == pytest.approx(float(values[:, 1].mean()), abs=1e-4)
        index = int(record.clip_id.split("-")[1])
        drawn = make_va(options, record.split, index, int(labels[record.split][index]))
        np.testing.assert_allclose(values, drawn, atol=1e-6)
    spread = np.array([[r.valence, r.arousal] for r in records]).std(axis=0)
    assert np.all(spread > 0.05)  # clips differ in both targets
    sample = ClipDataset(records, dataset, ["Negative", "Neutral", "Positive"], frames=3, image_size=32)[0]
    np.testing.assert_allclose(sample["va"].numpy(), read_va_file(dataset / records[0].va_file))
    assert sample["valence"] == pytest.approx(records[0].valence)


def test_the_option_leaves_frames_and_annotations_as_without_it(dataset, tmp_path):
    plain = generate_dataset(tmp_path / "plain", progress=False, **OPTIONS)
    assert _files(plain, "frames") == _files(dataset, "frames")
    assert not (plain / "va").exists()
    assert "va" not in json.loads((plain / "dataset.json").read_text())["options"]
    assert (plain / "manifest.csv").read_text().splitlines()[0] == "clip_id,split,label,path"
    options = SynthOptions(**OPTIONS)
    frames, annotations = make_clip(options, "val", 2, 1)
    with_va = make_clip(SynthOptions(**OPTIONS, va=True), "val", 2, 1)
    assert all(np.array_equal(x, y) for x, y in zip(frames, with_va[0]))
    assert [len(a.persons) for a in annotations] == [len(a.persons) for a in with_va[1]]


def test_two_workers_and_a_resumed_run_write_the_same_targets(dataset, tmp_path):
    again = generate_dataset(tmp_path / "parallel", workers=2, progress=False, va=True, **OPTIONS)
    assert _files(again, "va") == _files(dataset, "va")
    assert (again / "manifest.csv").read_bytes() == (dataset / "manifest.csv").read_bytes()
    partial = tmp_path / "partial"
    shutil.copytree(dataset, partial)
    (partial / "manifest.csv").unlink()
    (partial / "va" / "train-000004.txt").unlink()
    stale = partial / "va" / ".train-000004.txt.0123456789abcdef.tmp"
    stale.write_text("valence,arousal\n0.1")  # a write killed half way
    generate_dataset(partial, progress=False, va=True, **OPTIONS)
    assert not stale.exists()
    assert _files(partial, "va") == _files(dataset, "va")
    assert (partial / "manifest.csv").read_bytes() == (dataset / "manifest.csv").read_bytes()
    other = SynthOptions(**{**OPTIONS, "seed": 9})
    assert not np.array_equal(make_va(other, "train", 0, 0), make_va(SynthOptions(**OPTIONS), "train", 0, 0))


def test_cli_va_flag(tmp_path):
    out = tmp_path / "cli"
    argv = ["synth", "--out", str(out), "--n-train", "3", "--n-val", "0", "--frames", "2"]
    assert main([*argv, "--image-size", "64", "--max-people", "3", "--va"]) == 0
    records, _ = read_manifest(out)
    assert len(records) == 3 and all(r.valence is not None and r.arousal is not None for r in records)
    assert all(read_va_file(out / r.va_file).shape == (2, 2) for r in records)
