import shutil

import numpy as np
import pytest
import torch

from vemd.data.dataset import ClipDataset, Skipped, TargetSpec, collate, usable
from vemd.data.manifest import read_manifest
from vemd.errors import DataError
from vemd.structure import AnnotationStore


def _dataset(root, **kwargs):
    records, classes = read_manifest(root)
    train = [r for r in records if r.split == "train"]
    return ClipDataset(train, root, classes, frames=2, image_size=64, **kwargs)


def test_samples_carry_frames_labels_and_targets(synth_root):
    store = AnnotationStore(synth_root / "annotations")
    ds = _dataset(
        synth_root, annotations=store, targets=TargetSpec("heatmap", ("body", "face")), augment=True
    )
    sample = ds[0]
    assert sample["frames"].shape == (2, 3, 64, 64) and sample["frames"].dtype == torch.uint8
    assert sample["heatmaps"]["body"].shape == (2, 18, 56, 56)
    assert sample["heatmaps"]["face"].shape == (2, 83, 56, 56)
    assert sample["target_mask"].all()
    assert sample["heatmaps"]["body"].max() > 0.9  # somebody's limbs are drawn
    batch = collate([ds[0], ds[1]])
    assert batch["frames"].shape == (2, 2, 3, 64, 64) and batch["label"].tolist() == [
        ds[0]["label"],
        ds[1]["label"],
    ]


def test_augmentation_is_a_function_of_seed_epoch_and_item(synth_root):
    ds = _dataset(synth_root, augment=True, seed=3)
    a, b = ds[2]["frames"], ds[2]["frames"]
    assert torch.equal(a, b)
    ds.set_epoch(1)
    assert not torch.equal(a, ds[2]["frames"])


def test_person_query_targets_per_frame(synth_root):
    store = AnnotationStore(synth_root / "annotations")
    ds = _dataset(synth_root, annotations=store, targets=TargetSpec("personquery", ("body",)))
    frames = ds[0]["queries"]["body"]
    assert len(frames) == 2
    assert frames[0]["limbs"].shape[1] == 72 and frames[0]["adjacency"].shape[1:] == (18, 18)
    batch = collate([ds[0], ds[1]])
    assert len(batch["queries"]["body"]) == 4  # flat over (B, T)


def test_bad_item_is_named_or_skipped(synth_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(synth_root, root)
    ds = _dataset(root)
    frame = sorted((root / ds.records[1].path).iterdir())[0]
    frame.write_bytes(b"broken")
    with pytest.raises(DataError, match=frame.name):
        ds[1]
    skipping = _dataset(root, skip_bad=True)
    assert isinstance(skipping[1], Skipped) and frame.name in skipping[1].message
    batch = collate([skipping[0], skipping[1], skipping[2]])
    assert len(batch["label"]) == 2 and batch["skipped"] == [skipping[1].message]
    assert np.array_equal(batch["clip_id"], [skipping.records[0].clip_id, skipping.records[2].clip_id])
    assert usable(collate([skipping[1]])) is None  # nothing left to train on


def test_a_skipped_item_is_reported_once_per_run(synth_root, tmp_path, caplog):
    """Read in every epoch (and in fresh DataLoader workers), a bad item is reported once."""
    root = tmp_path / "copy"
    shutil.copytree(synth_root, root)
    ds = _dataset(root, skip_bad=True)
    frame = sorted((root / ds.records[1].path).iterdir())[0]
    frame.write_bytes(b"broken")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate, num_workers=1)
    with caplog.at_level("WARNING", logger="vemd.data.dataset"):
        for _epoch in range(2):
            for batch in map(usable, loader):
                assert batch is None or "skipped" not in batch
    assert [r.getMessage() for r in caplog.records].count(f"skipping {ds[1].message}") == 1
