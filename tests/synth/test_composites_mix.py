"""Composites mixed into a target's training split (``data.mix``, ``data.mix_fraction``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.synth.composite_faces import make_face_folder

from vemd.config import ConfigError, load_config
from vemd.data.build import build_dataset
from vemd.data.dataset import ClipDataset
from vemd.data.mix import MixedDataset, mix_count
from vemd.synth import generate_dataset
from vemd.synth.composites import generate_composites


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("target") / "sg"
    return generate_dataset(out, n_train=14, n_val=3, frames=2, max_people=3, image_size=64, progress=False)


@pytest.fixture(scope="module")
def composites(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("mix")
    faces = make_face_folder(base / "faces")
    return generate_composites(
        base / "c", faces=faces, n_train=9, n_val=3, frames=2, image_size=64, seed=1, progress=False
    )


def _config(target: Path, *overrides: str):
    return load_config("tiny", [f"data.root={target}", "data.frames=2", "model.image_size=64", *overrides])


def test_composites_make_the_stated_share_of_the_training_split_only(target, composites):
    cfg = _config(target, f"data.mix={composites}")
    train, _ = build_dataset(cfg, "train", train=True)
    assert isinstance(train, MixedDataset)
    assert mix_count(14, 0.3) == 6 and len(train) == 14 + 6
    assert len(train) - 14 == round(0.3 * len(train))
    names = train.class_names
    assert names == ["Negative", "Neutral", "Positive"]  # the target's order, not the composites'
    mixed = [train[i] for i in range(14, len(train))]
    assert all(s["clip_id"].startswith("mix:") for s in mixed)
    assert [s["index"] for s in mixed] == list(range(14, 20))
    labels = {r.clip_id: r.label for r in train.datasets[1].records}
    assert all(names[s["label"]] == labels[s["clip_id"][4:]] for s in mixed)
    assert all(s["heatmaps"]["body"].shape[0] == 2 for s in mixed)  # structural targets, from their own store
    train.set_epoch(3)
    assert {d.epoch for d in train.datasets} == {3}
    val, _ = build_dataset(cfg, "val", train=False)
    assert isinstance(val, ClipDataset) and len(val) == 3
    again, _ = build_dataset(cfg, "train", train=True)
    assert again.datasets[1].records == train.datasets[1].records  # drawn from train.seed


def test_a_small_mix_is_used_whole_and_says_so(target, composites, caplog):
    cfg = _config(target, f"data.mix={composites}", "data.mix_fraction=0.5")
    with caplog.at_level(logging.WARNING, logger="vemd.data.mix"):
        train, _ = build_dataset(cfg, "train", train=True)
    assert len(train) == 14 + 9
    assert "9 training clips, fewer than the 14" in caplog.text


def test_a_mix_of_other_classes_or_settings_is_refused(target, tmp_path):
    other = generate_dataset(
        tmp_path / "ids",
        n_train=4,
        n_val=2,
        frames=2,
        identities=2,
        task="identity",
        image_size=64,
        progress=False,
    )
    with pytest.raises(
        ConfigError, match=r"data\.mix=.*classes \['p000', 'p001'\] are not among the target's"
    ):
        build_dataset(_config(target, f"data.mix={other}"), "train", train=True)
    with pytest.raises(ConfigError, match=r"data\.mix_fraction=1\.0: expected a share in \(0, 1\)"):
        _config(target, f"data.mix={other}", "data.mix_fraction=1.0")
    with pytest.raises(ConfigError, match=r"data\.mix mixes clips into VE-MD's own training only"):
        load_config("systems/emotiw20_synth", [f"data.mix={other}"])
