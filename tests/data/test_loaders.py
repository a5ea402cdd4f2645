"""Dataset loaders on miniature copies of each published layout."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from layouts import MER_EMOTIONS, make_dfew, make_mer2023, make_vgaf, write_image, write_video

from vemd.config import DataConfig
from vemd.data.loaders import dataset_defaults, load_index
from vemd.data.loaders.dfew import FOLDS, average_folds
from vemd.data.loaders.mer2023 import in_val
from vemd.data.manifest import ClipRecord, write_manifest
from vemd.data.media import probe, sample_indices
from vemd.errors import DataError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def cfg_for(name: str, root: Path, **changes) -> DataConfig:
    d = dataset_defaults(name)
    base = DataConfig(name=name, root=str(root), frames=d["frames"], sampling=d["sampling"])
    return dataclasses.replace(base, frame_interval=d["interval"], **changes)


def labels(index) -> dict[str, str]:
    return {r.clip_id: r.label for r in index.records}


@pytest.mark.parametrize("nested", [False, True])
def test_gaf3_plain_and_nested_layouts(tmp_path, nested):
    for split, counts in (
        ("Train", {"Positive": 2, "Neutral": 1, "Negative": 3}),
        ("val", {"Positive": 1, "Neutral": 1, "Negative": 1}),
    ):
        for name, count in counts.items():
            folder = tmp_path / split / name / (name if nested else "")
            for k in range(count):
                write_image(folder / f"{name[:3].lower()}_{k}.jpg")
    train = load_index(cfg_for("gaf3", tmp_path), "train")
    assert train.class_names == ["Positive", "Neutral", "Negative"]
    assert train.frames == 1
    got = {c: sum(r.label == c for r in train.records) for c in train.class_names}
    assert got == {"Positive": 2, "Neutral": 1, "Negative": 3}
    assert all((tmp_path / r.path).is_file() for r in train.records)
    val = load_index(cfg_for("gaf3", tmp_path), "val")
    assert sorted(r.label for r in val.records) == ["Negative", "Neutral", "Positive"]
    (tmp_path / "Train" / "Neutral").rename(tmp_path / "elsewhere")
    with pytest.raises(DataError, match="Neutral: missing class folder"):
        load_index(cfg_for("gaf3", tmp_path), "train")


def test_vgaf_labels_videos_and_one_frame_per_second(tmp_path):
    root = make_vgaf(tmp_path)
    index = load_index(cfg_for("vgaf", root), "train")
    assert labels(index) == {"10_1": "Positive", "11_2": "Negative"}
    assert (index.frames, index.sampling, index.interval) == (5, "fps", 1.0)
    record = index.records[0]
    assert record.audio == record.path == "Train/10_1.mp4"
    info = probe(root / record.path)
    assert (info.num_frames, info.fps) == (60, 10.0)
    picks = sample_indices(info.num_frames, index.frames, sampling=index.sampling, fps=info.fps)
    assert picks == [0, 10, 20, 30, 40]
    assert labels(load_index(cfg_for("vgaf", root), "val")) == {"20_1": "Neutral"}


def test_vgaf_problems_raise_or_are_collected(tmp_path, caplog):
    root = make_vgaf(tmp_path)
    (root / "Train_labels.txt").write_text("Vid_name Label\n10_1 1\n11_2 7\n99_9 2\n")
    with pytest.raises(DataError, match="11_2 7|is not 1, 2 or 3"):
        load_index(cfg_for("vgaf", root), "train")
    found: list[tuple[str, str]] = []
    index = load_index(cfg_for("vgaf", root), "train", problems=found)
    assert labels(index) == {"10_1": "Positive"}
    assert [Path(p).name for p, _ in found] == ["Train_labels.txt:3", "99_9.mp4"]
    with caplog.at_level("WARNING", logger="vemd.data.loaders"):
        load_index(cfg_for("vgaf", root, skip_bad=True), "train")
    assert [
        r.getMessage() for r in caplog.records if "2 bad item(s) skipped in split 'train'" in r.getMessage()
    ]


def test_dfew_folds_labels_and_16_frames(tmp_path):
    root = make_dfew(tmp_path)
    fold1 = load_index(cfg_for("dfew", root, fold=1), "train")
    fold2 = load_index(cfg_for("dfew", root, fold=2), "train")
    assert labels(fold1) == {"00001": "happy", "00002": "fear"}
    assert labels(fold2) == {"00002": "fear", "00003": "angry"}
    assert labels(load_index(cfg_for("dfew", root, fold=2), "test")) == {"00001": "happy"}
    assert fold1.class_names == ["happy", "sad", "neutral", "angry", "surprise", "disgust", "fear"]
    info = probe(root / fold1.records[0].path)
    assert info.kind == "folder" and info.num_frames == 20
    picks = sample_indices(info.num_frames, fold1.frames)
    assert fold1.frames == 16 and len(picks) == 16 and picks == sorted(picks) and picks[-1] < 20
    assert FOLDS == (1, 2, 3, 4, 5)
    with pytest.raises(DataError, match="data.fold=6"):
        load_index(cfg_for("dfew", root, fold=6), "train")


def test_average_folds_mean_and_sample_sd():
    folds = [{"uar": 0.5, "war": 0.6}, {"uar": 0.7, "war": 0.6}, {"uar": 0.6, "war": 0.9}]
    summary = average_folds(folds)
    assert summary["num_folds"] == 3
    assert summary["uar"] == pytest.approx(0.6) and summary["uar_sd"] == pytest.approx(0.1)
    assert summary["war"] == pytest.approx(0.7) and summary["war_sd"] == pytest.approx(0.17320508)
    assert average_folds(folds[:1])["uar_sd"] == 0.0
    with pytest.raises(ValueError, match="'war' missing"):
        average_folds([{"uar": 0.5}])


def test_mer2023_train_is_all_of_train_label_and_val_a_stable_held_out_tenth(tmp_path):
    root = make_mer2023(tmp_path, num_train=30)
    names = [f"sample_{k:05d}" for k in range(30)]
    cfg = cfg_for("mer2023", root)
    train, train90, val = (
        {r.clip_id for r in load_index(cfg, s).records} for s in ("train", "train90", "val")
    )
    # Table 2: the paper trains on every clip of train-label.csv
    assert train == set(names)
    assert val == {n for n in names if in_val(n)} and 0 < len(val) < len(train)
    assert train90 == train - val
    record = next(r for r in load_index(cfg, "train").records if r.clip_id == "sample_00007")
    assert (record.label, record.valence, record.path) == (
        "happy",
        pytest.approx(-0.8),
        "video/sample_00007.avi",
    )
    test1 = load_index(cfg, "test1")
    assert test1.frames == 10 and test1.class_names == MER_EMOTIONS
    assert [(r.clip_id, r.label, r.valence) for r in test1.records] == [
        ("sample_00030", "happy", 0.5),
        ("sample_00031", "sad", None),
    ]
    with pytest.raises(DataError, match="no split 'trainval'"):
        load_index(cfg, "trainval")


def test_mer2023_bad_valence_names_the_file_and_line(tmp_path):
    root = make_mer2023(tmp_path, num_train=6)
    table = root / "train-label.csv"
    table.write_text(table.read_text().replace("sample_00002,neutral,-1.3", "sample_00002,neutral,high"))
    with pytest.raises(DataError, match=r"train-label.csv:4: valence 'high' is not a number"):
        load_index(cfg_for("mer2023", root), "train")
    found: list[tuple[str, str]] = []
    index = load_index(cfg_for("mer2023", root), "train", problems=found)
    assert len(index.records) == 5 and [Path(p).name for p, _ in found] == ["train-label.csv:4"]


def test_samsemo_merges_anger_and_disgust_and_keeps_transcripts(tmp_path):
    meta = [
        ("aa_1", "EN", "happiness", "great news"),
        ("aa_2", "EN", "disgust", "ugh"),
        ("aa_3", "EN", "anger, disgust", "stop it"),
        ("bb_1", "PL", "fear", "boo"),
        ("bb_2", "PL", "anger;happiness", "mixed"),
        ("bb_3", "PL", "boredom", "meh"),
    ]
    lines = ["utterance_id\tlanguage\taggregated_emotions\ttranscript"] + ["\t".join(m) for m in meta]
    (tmp_path / "samsemo.tsv").write_text("\n".join(lines) + "\n")
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train_split_EN.txt").write_text("aa_1\naa_2\naa_3\n")
    (tmp_path / "splits" / "train_split_PL.txt").write_text("bb_1\nbb_2\nbb_3\n")
    (tmp_path / "splits" / "valid_split_EN.txt").write_text("aa_1\n")
    for utterance, *_ in meta:
        write_video(tmp_path / "EN" / f"{utterance}.mp4", 2)
    (tmp_path / "EN" / "aa_1.wav").write_bytes(b"")
    found: list[tuple[str, str]] = []
    index = load_index(cfg_for("samsemo", tmp_path), "train", problems=found)
    assert index.class_names == ["neutral", "happiness", "sadness", "anger", "surprise"]
    assert labels(index) == {"aa_1": "happiness", "aa_2": "anger", "aa_3": "anger"}
    first = index.records[0]
    assert (first.text, first.audio) == ("great news", "EN/aa_1.wav")
    assert index.records[1].audio == index.records[1].path
    assert len(found) == 1 and "boredom" in found[0][1]
    assert labels(load_index(cfg_for("samsemo", tmp_path), "val")) == {"aa_1": "happiness"}


def test_engagenet_label_spellings(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "Train_engagement.csv").write_text(
        "chunk,label\nc1.mp4,Highly-Engaged\nc2,not engaged\nc3,barely_engaged\n"
    )
    (tmp_path / "labels" / "validation.csv").write_text("chunk,label\nc4,Engaged\n")
    for clip in ("c1", "c2", "c3", "c4"):
        write_video(tmp_path / "clips" / f"{clip}.mp4", 2)
    train = load_index(cfg_for("engagenet", tmp_path), "train")
    assert labels(train) == {"c1": "Highly-Engaged", "c2": "Not-Engaged", "c3": "Barely-Engaged"}
    assert train.class_names == ["Not-Engaged", "Barely-Engaged", "Engaged", "Highly-Engaged"]
    assert labels(load_index(cfg_for("engagenet", tmp_path), "val")) == {"c4": "Engaged"}


def test_folder_with_and_without_split_level(tmp_path):
    write_image(tmp_path / "split" / "train" / "happy" / "a.jpg")
    write_video(tmp_path / "split" / "train" / "sad" / "b.mp4", 3)
    write_image(tmp_path / "split" / "train" / "sad" / "c" / "000.png")
    write_image(tmp_path / "split" / "val" / "happy" / "d.jpg")
    index = load_index(cfg_for("folder", tmp_path / "split"), "train")
    assert index.class_names == ["happy", "sad"]
    assert sorted((r.label, r.path) for r in index.records) == [
        ("happy", "train/happy/a.jpg"),
        ("sad", "train/sad/b.mp4"),
        ("sad", "train/sad/c"),
    ]
    write_image(tmp_path / "flat" / "pos" / "x.jpg")
    flat = load_index(cfg_for("folder", tmp_path / "flat"), "train")
    assert [(r.label, r.path) for r in flat.records] == [("pos", "pos/x.jpg")]
    with pytest.raises(DataError, match="no such split folder"):
        load_index(cfg_for("folder", tmp_path / "flat"), "val")


def test_csv_class_order_and_manifest_layout(tmp_path):
    write_image(tmp_path / "img" / "a.jpg")
    write_image(tmp_path / "img" / "b.jpg")
    (tmp_path / "train.csv").write_text("path,label\nimg/a.jpg,zeta\nimg/b.jpg,alpha\n")
    index = load_index(cfg_for("csv", tmp_path), "train")
    assert index.class_names == ["zeta", "alpha"]
    fixed = load_index(cfg_for("csv", tmp_path, class_names=["alpha", "zeta"]), "train")
    assert fixed.class_names == ["alpha", "zeta"] and len(fixed.records) == 2

    synth = tmp_path / "synth"
    write_image(synth / "s0.png")
    records = [ClipRecord("s0", "train", "neg", "s0.png"), ClipRecord("s1", "val", "pos", "s0.png")]
    write_manifest(synth, records, ["neg", "pos"])
    got = load_index(cfg_for("synth", synth), "val")
    assert (got.class_names, got.records) == (["neg", "pos"], [records[1]])
    with pytest.raises(DataError, match="no clip in split 'test'"):
        load_index(cfg_for("synth", synth), "test")


def test_folder_and_csv_splits_share_the_training_class_list(tmp_path):
    """A split holding fewer classes, or listing them in another order, keeps train's label indices."""
    for name in ("happy", "sad"):
        write_image(tmp_path / "f" / "train" / name / "a.jpg")
    write_image(tmp_path / "f" / "val" / "sad" / "b.jpg")
    assert load_index(cfg_for("folder", tmp_path / "f"), "val").class_names == ["happy", "sad"]
    write_image(tmp_path / "c" / "a.jpg")
    (tmp_path / "c" / "train.csv").write_text("path,label\na.jpg,neg\na.jpg,pos\n")
    (tmp_path / "c" / "val.csv").write_text("path,label\na.jpg,pos\na.jpg,neg\n")
    (tmp_path / "c" / "test.csv").write_text("path,label\na.jpg,pos\n")
    for split in ("val", "test"):
        assert load_index(cfg_for("csv", tmp_path / "c"), split).class_names == ["neg", "pos"]


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(DataError, match="unknown dataset"):
        load_index(DataConfig(name="nope", root=str(tmp_path)), "train")
    with pytest.raises(DataError, match="no split 'test'"):
        load_index(cfg_for("gaf3", tmp_path), "test")
