"""Real people through each dataset layout: `vemd annotate NAME ROOT --backend offline` on a
miniature copy built from ``../shared/fixtures`` (:mod:`real_layouts`), then `vemd data check`
and one `vemd fit` step whose structural targets are rendered from those annotations.

Annotation is the slow part (~0.4 s a frame), so each layout is annotated once per module.
"""

from __future__ import annotations

import csv
import json
import os

import pytest
from real_layouts import REAL_LAYOUTS
from tests.annotate.helpers import fixture, require_annotate_extra

from vemd.cli import main
from vemd.commands.common import dataset_config
from vemd.data.build import build_dataset
from vemd.data.loaders import dataset_defaults, load_index
from vemd.structure.annotations import AnnotationStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODALITIES = ("body", "face")  # every layout's clips show bodies and faces
# Both structure-supervised modes, spread over the layouts (photos, clips, frame folders).
MODES = {
    "gaf3": "ve-md-sr",
    "vgaf": "ve-md",
    "dfew": "ve-md-sr",
    "mer2023": "ve-md",
    "samsemo": "ve-md-sr",
    "engagenet": "ve-md",
    "folder": "ve-md-sr",
    "csv": "ve-md",
}
# The split fit selects on, where the loader has no ``val`` (as in configs/paper/<dataset>/_base.yaml).
VAL_SPLITS = {"dfew": "test", "mer2023": "test1"}
TINY = [
    "train.max_steps=1",
    "train.batch_size=2",
    "train.log_every_n_steps=1",
    "train.stage=2",
    "train.feature_cache=false",
    "model.decoder=heatmap",
    "model.heatmap.up_channels=[16,8,8,8]",
    "model.heatmap.stage_channels=8",
    f"model.sr.modalities=[{','.join(MODALITIES)}]",
]


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    """``get(name) -> (root, exit status)``: the real layout ``name``, annotated on first use."""
    for folder in ("images", "videos", "faces_gt"):
        fixture(folder)
    require_annotate_extra()
    done: dict = {}

    def get(name: str):
        if name not in done:
            root = REAL_LAYOUTS[name](tmp_path_factory.mktemp(name) / name)
            status = main(["annotate", name, str(root), "--backend", "offline", "--no-progress"])
            done[name] = root, status
        return done[name]

    return get


def sampling(name: str) -> list[str]:
    """The loader's own frame sampling, so that fit reads the frames that were annotated."""
    defaults = dataset_defaults(name)
    return [
        f"data.frames={defaults['frames']}",
        f"data.sampling={defaults['sampling']}",
        f"data.frame_interval={defaults['interval']}",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL_LAYOUTS))
def test_offline_annotation_covers_every_training_frame_with_real_people(name, annotated, capsys):
    root, status = annotated(name)
    assert status == 0, (root / "annotations" / "problems.csv").read_text()
    capsys.readouterr()
    assert main(["data", "check", name, str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == []
    coverage = report["coverage"]
    assert coverage["fraction"] == 1.0 and coverage["annotated"] == coverage["frames"] > 0

    frames = dict(AnnotationStore(root / "annotations").items())
    assert len(frames) == coverage["frames"]
    empty = [key for key, frame in frames.items() if not frame.persons]
    assert empty == [], f"the offline annotator found nobody in {empty}"
    every_clip = {key.rpartition("/")[0] for key in frames}
    for part in MODALITIES:
        shown = {key.rpartition("/")[0] for key, frame in frames.items() if frame.stacked(part).size}
        assert shown == every_clip, f"no {part} found in {sorted(every_clip - shown)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL_LAYOUTS))
def test_a_fit_step_trains_on_structure_rendered_from_the_real_annotations(name, annotated, tmp_path):
    root, _ = annotated(name)
    num_classes = len(load_index(dataset_config(name, str(root), None, []).data, "train").class_names)
    overrides = [f"model.num_classes={num_classes}", f"model.mode={MODES[name]}", *TINY]
    overrides.append(f"data.val_split={VAL_SPLITS.get(name, 'val')}")
    dataset, index = build_dataset(dataset_config(name, str(root), None, overrides), "train", train=True)
    assert len(dataset) == len(index.records) >= 2  # no training clip dropped for lack of people
    for item in range(len(dataset)):
        sample = dataset[item]
        assert sample["target_mask"].all()
        for part in MODALITIES:
            assert sample["heatmaps"][part].amax() > 0.5, f"{sample['clip_id']}: empty {part} heatmaps"

    run = tmp_path / "run"
    sets = [*sampling(name), *overrides, f"train.out_dir={run}"]
    recipe = ["--config", "tiny", "--set", f"data.name={name}", "--set", f"data.root={root}"]
    assert main(["fit", *recipe, *(w for s in sets for w in ("--set", s))]) == 0
    with open(run / "stage2" / "logs" / "metrics.csv") as log:
        [row] = [r for r in csv.DictReader(log) if r["train/loss"]]
    terms = {k.removeprefix("train/"): float(v) for k, v in row.items() if k.startswith("train/loss_")}
    for part in MODALITIES:
        parts = [k for k in terms if k.startswith(f"loss_{part}")]
        assert len(parts) >= 3, f"{part} terms logged: {parts}"  # L_p, its decoder term and stages
        assert all(terms[k] > 0 for k in parts), terms
