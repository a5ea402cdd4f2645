"""The audit's splits keep recordings whole, and its baselines say what the input alone gives away.

Known answers:

* pixel-identical duplicates (each identity's "recordings" are copies of one noise image) carry
  no identity beyond their recording: grouped, they score near chance, whatever represents them;
* identity only in hue (isoluminant colours, grey noise): the grey-pixel baseline is at chance
  while the model, which sees colour, re-identifies them;
* an identity with one item is left out and named, not a crash;
* real posed faces (``../shared/fixtures/faces_expr``, sequences of near-identical frames): raw
  pixels re-identify every held-out frame under a stratified split, far fewer with whole
  sequences held out.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from vemd.cli import main
from vemd.errors import DataError
from vemd.privacy.features import pixel_thumbnails
from vemd.privacy.grouping import components, keep_identities, recording_groups, signatures
from vemd.privacy.items import find_identities, read_groups
from vemd.privacy.probes import balanced_pairs, grouped_folds, leakage, presence_logreg, reidentify

FACES_EXPR = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "faces_expr"
K, RECORDINGS, COPIES = 4, 6, 3


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def _duplicates(root: Path, *, sessions: bool) -> Path:
    """K identities × RECORDINGS noise images × COPIES pixel-identical copies, flat or in
    recording folders."""
    rng = np.random.default_rng(0)
    for k in range(K):
        for r in range(RECORDINGS):
            image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            for c in range(COPIES):
                name = f"r{r}/{c}.png" if sessions else f"r{r}_{c}.png"
                _write(root / f"p{k}" / name, image)
    return root


def _audit(model: Path, identities: Path, out: Path, *extra: str) -> dict:
    code = main(["audit", "--ckpt", str(model), "--identities", str(identities), "--out", str(out), *extra])
    assert code == 0
    return json.loads((out / "audit.json").read_text())


def _rows(result: dict) -> dict[str, dict]:
    return {**result["representations"], "baseline": result["baseline"]}


# ---- probes and grouping ------------------------------------------------------------------------


def test_recording_folders_and_frame_folders(tmp_path):
    """A subfolder of images is one clip (a frame folder) unless --layout sessions; one holding a
    video is a recording folder; a scene's subfolder is its recording."""
    image = np.zeros((8, 8, 3), np.uint8)
    for name in ("a/s1/0.png", "a/s1/1.png", "a/2.png", "b/s1/0.png", "b/s2/0.png"):
        _write(tmp_path / "ids" / name, image)
    (tmp_path / "ids" / "b" / "s2" / "clip.mp4").write_bytes(b"")  # named a video: s2 is a recording
    auto = {(i.identity, i.path.name, i.recording) for i in find_identities(tmp_path / "ids")}
    assert auto == {("a", "s1", None), ("a", "2.png", None), ("b", "s1", None), ("b", "0.png", "s2"),
                    ("b", "clip.mp4", "s2")}  # fmt: skip
    sessions = {(i.identity, i.path.name, i.recording) for i in find_identities(tmp_path / "ids", "sessions")}
    assert ("a", "0.png", "s1") in sessions and ("a", "1.png", "s1") in sessions and len(sessions) == 6
    _write(tmp_path / "groups" / "r1" / "0.png", image)
    _write(tmp_path / "groups" / "1.png", image)
    (tmp_path / "groups" / "members.csv").write_text("file,identities\nr1/0.png,a;b\n1.png,a\n")
    assert [scene.recording for scene in read_groups(tmp_path / "groups")] == ["r1", None]


def test_grouped_folds_never_split_a_group_and_train_on_every_identity():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(7), 9)
    groups = labels * 10 + rng.integers(0, 2 + labels % 4, len(labels))  # 2 to 5 recordings each
    folds = grouped_folds(labels, groups, seed=1)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested) == list(range(len(labels)))  # each item held out once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert set(labels[test]) <= set(labels[train])


def test_pixel_identical_duplicates_do_not_count_as_reidentification():
    """Per-recording random vectors, copied: matched across a stratified split, never across a grouped one."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 12)
    groups = np.repeat(np.arange(24), 3)  # 4 recordings of 3 copies per identity
    vectors = np.repeat(rng.normal(size=(24, 32)), 3, axis=0)
    assert reidentify(vectors, labels)["knn"]["accuracy"] == 1.0  # items as their own groups: the confound
    grouped = reidentify(vectors, labels, groups)
    for probe in ("knn", "logreg"):
        low, high = grouped[probe]["ci95"]
        assert low <= 1 / 6 <= high, grouped[probe]


def test_presence_folds_keep_a_recording_of_scenes_whole():
    """Scenes copied three times from 40 recordings, vectors unrelated to who is in them."""
    rng = np.random.default_rng(5)
    names = [f"p{i}" for i in range(6)]
    shown = [frozenset(rng.choice(names, 2, replace=False)) for _ in range(40)]
    members = [shown[i // 3] for i in range(120)]  # a recording's copies show the same people
    vectors = np.repeat(rng.normal(size=(40, 16)), 3, axis=0)
    pairs = balanced_pairs(members, names)
    assert presence_logreg(vectors, pairs)["auc"] > 0.75  # copies on both sides: the confound
    assert abs(presence_logreg(vectors, pairs, np.arange(120) // 3)["auc"] - 0.5) < 0.15


def test_an_identity_with_one_recording_is_a_one_line_error():
    labels = np.array(["a", "a", "b", "b", "c"])
    with pytest.raises(DataError, match="identity c: fewer than 2 recordings") as err:
        reidentify(np.eye(5), labels)
    assert "\n" not in str(err.value)
    keep, left_out = keep_identities(labels, np.array([0, 1, 2, 3, 4]))
    assert keep.tolist() == [True, True, True, True, False] and left_out == {"c": "1 item"}


def test_near_duplicates_are_grouped_within_an_identity_and_folders_win():
    rng = np.random.default_rng(1)
    base = rng.random((4, 24 * 24)).astype(np.float32)
    thumbs = np.stack([base[0], base[0] + 0.01 * rng.random(576), base[1], base[2], base[2], base[3]])
    labels = np.array(["a", "a", "a", "b", "b", "b"])
    flat = recording_groups(labels, [None] * 6, signatures("visual", thumbs), "visual")
    assert flat.groups.tolist() == [0, 0, 1, 2, 2, 3]
    assert flat.facts["by"] == "near-duplicates" and flat.facts["num_items_joined_as_near_duplicates"] == 4
    # b's copies (items 3 and 4) sit in two recording folders: kept apart as the folders say, and counted
    foldered = recording_groups(
        labels, ["x", "x", "y", "u", "v", "v"], signatures("visual", thumbs), "visual"
    )
    assert foldered.groups.tolist() == [0, 0, 1, 2, 3, 3]
    assert foldered.facts["num_near_duplicate_pairs_across_groups"] == 1  # 3 and 4: said, not hidden


def test_components():
    assert components(5, [(0, 3), (3, 4)]).tolist() == [0, 1, 2, 0, 0]


def test_leakage_needs_a_reference_above_chance():
    probe = {"accuracy": 0.8, "ci95": [0.7, 0.9]}
    value, (low, high) = leakage(probe, 0.2, {"accuracy": 0.5, "ci95": [0.4, 0.6]})
    assert value == pytest.approx(2.0) and low == pytest.approx(5 / 3) and high == pytest.approx(7 / 3)
    assert leakage(probe, 0.2, {"accuracy": 0.3, "ci95": [0.15, 0.45]}) == (None, None)
    assert leakage(probe, 0.2, None) == (None, None)


# ---- the audit end to end -----------------------------------------------------------------------


@pytest.mark.parametrize("sessions", [False, True], ids=["flat", "recording-folders"])
def test_audit_of_duplicates_scores_chance(ve_md_sr, tmp_path, sessions):
    root = _duplicates(tmp_path / "ids", sessions=sessions)
    layout = ["--layout", "sessions"] if sessions else []
    result = _audit(ve_md_sr.model, root, tmp_path / "out", "--no-ceiling", *layout)
    grouping = result["grouping"]
    assert grouping["by"] == ("recording folders" if sessions else "near-duplicates")
    assert grouping["num_groups"] == K * RECORDINGS and grouping["groups_per_identity"] == [6, 6]
    assert result["baseline"]["name"] == "pixels" and result["baseline"]["dim"] == 576
    for name, entry in _rows(result).items():  # chance 25 %; matched copies would make it 100 %
        assert max(entry[p]["accuracy"] for p in ("knn", "logreg")) <= 0.5, (name, entry)
    text = (tmp_path / "out" / "audit.md").read_text()
    assert "`pixels` (input baseline)" in text and "## Leakage" in text and "24 groups" in text


def _isoluminant(root: Path, per: int = 6) -> Path:
    """Identities told apart by hue alone: colours of one luminance (Y = 110, BT.601 as OpenCV's
    grey conversion), the same grey noise added to every channel of every image."""
    rng = np.random.default_rng(2)
    for k, (red, blue) in enumerate([(200, 60), (40, 200), (60, 40), (150, 210)]):
        green = (110 - 0.299 * red - 0.114 * blue) / 0.587
        bgr = np.array([blue, green, red])
        for j in range(per):
            noise = rng.integers(-20, 21, (64, 64, 1))
            _write(root / f"p{k}" / f"{j}.png", (bgr + noise).round().clip(0, 255).astype(np.uint8))
    return root


def test_identity_only_in_hue_is_not_in_the_grey_pixels(ve_md_sr, tmp_path):
    result = _audit(ve_md_sr.model, _isoluminant(tmp_path / "ids"), tmp_path / "out", "--no-ceiling")
    chance = result["chance"]
    baseline = result["baseline"]
    assert all(baseline[p]["ci95"][0] <= chance for p in ("knn", "logreg")), baseline
    assert result["representations"]["latent"]["logreg"]["accuracy"] >= 0.9  # the model sees colour
    assert result["representations"]["latent"]["logreg"]["leakage_vs_input"] is None  # no ratio to noise


def test_an_identity_with_one_item_is_left_out_and_named(ve_md_sr, tmp_path, capsys):
    root = _isoluminant(tmp_path / "ids", per=3)
    _write(root / "loner" / "0.png", np.full((64, 64, 3), 90, np.uint8))
    result = _audit(ve_md_sr.model, root, tmp_path / "out", "--no-ceiling")
    assert result["identities"]["left_out"] == {"loner": "1 item"}
    assert result["identities"]["num_identities"] == 4 and result["chance"] == 0.25
    assert "loner (1 item)" in capsys.readouterr().out
    assert "loner (1 item)" in (tmp_path / "out" / "audit.md").read_text()


def test_too_few_identities_with_two_recordings_is_one_line(ve_md_sr, tmp_path, capsys):
    root = tmp_path / "ids"
    for k in range(3):
        _write(root / f"p{k}" / "only.png", np.full((64, 64, 3), 60 * k, np.uint8))
    code = main(
        ["audit", "--ckpt", str(ve_md_sr.model), "--identities", str(root), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and "re-identification needs at least 2" in err and len(err.splitlines()) == 1, err


# ---- real faces ---------------------------------------------------------------------------------

needs_faces = pytest.mark.skipif(not FACES_EXPR.is_dir(), reason=f"{FACES_EXPR} absent (real faces fixture)")


def _faces_expr() -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Every face of the fixture with its person and sequence (``S037_003_00000020.png``)."""
    paths = sorted(FACES_EXPR.glob("*/*.png"))
    person = np.array([p.stem.split("_")[0] for p in paths])
    sequence = np.array(["_".join(p.stem.split("_")[:2]) for p in paths])
    return paths, person, sequence


@needs_faces
def test_real_faces_near_duplicates_are_found_without_folders():
    """Without recording folders the audit's own grouping keeps every sequence whole."""
    paths, person, sequence = _faces_expr()
    thumbs = pixel_thumbnails(paths)
    groups = recording_groups(person, [None] * len(paths), signatures("visual", thumbs), "visual").groups
    assert all(len(set(groups[sequence == s])) == 1 for s in set(sequence))
    assert len(set(groups)) >= 0.6 * len(set(sequence))  # and joins few sequences that are not


def _in_recording_folders(root: Path, people: set[str] | None = None) -> Path:
    """The fixture as DIR/<person>/<sequence>/<frame>.png (symlinks), of ``people`` (None: all)."""
    paths, person, sequence = _faces_expr()
    for path, p, s in zip(paths, person, sequence, strict=True):
        if people is None or p in people:
            (root / p / s).mkdir(parents=True, exist_ok=True)
            (root / p / s / path.name).symlink_to(path)
    return root


@needs_faces
@pytest.mark.slow
def test_real_faces_pixels_under_grouped_splits(ve_md_sr, tmp_path):
    """``vemd audit --layout sessions`` on every person: the pixel baseline with whole sequences
    held out is far below the 100 % a stratified split gives the same thumbnails (the ceiling's
    row is checked on fewer people below: the face recogniser is the slow part)."""
    paths, person, sequence = _faces_expr()
    ids = _in_recording_folders(tmp_path / "ids")
    result = _audit(ve_md_sr.model, ids, tmp_path / "out", "--layout", "sessions", "--no-ceiling")
    single = {p for p in set(person) if len(set(sequence[person == p])) == 1}
    kept = ~np.isin(person, list(single))
    assert result["identities"]["left_out"] == {p: "3 items in 1 group" for p in sorted(single)}
    assert result["grouping"]["by"] == "recording folders"
    assert result["grouping"]["num_groups"] == len(set(sequence[kept]))
    stratified = reidentify(
        pixel_thumbnails([p for p, k in zip(paths, kept, strict=True) if k]), person[kept]
    )
    assert stratified["knn"]["accuracy"] >= 0.99  # near-duplicate frames on both sides: the confound
    assert result["baseline"]["knn"]["accuracy"] <= 0.9  # whole sequences held out
    assert result["baseline"]["knn"]["ci95"][0] > result["chance"]  # a face still shows who it is


@needs_faces
@pytest.mark.slow
def test_real_faces_report_pixel_and_ceiling_rows(ve_md_sr, tmp_path):
    """The face path with its ceiling, on four people of 3 to 5 sequences each."""
    people = {"S042", "S055", "S071", "S125"}
    ids = _in_recording_folders(tmp_path / "ids", people)
    result = _audit(ve_md_sr.model, ids, tmp_path / "out", "--layout", "sessions")
    assert result["grouping"]["by"] == "recording folders" and result["identities"]["left_out"] == {}
    ceiling = result["ceiling"]
    assert ceiling["name"] == "face_recognition" and ceiling["coverage"] >= 0.9
    assert ceiling["knn"]["accuracy"] >= 0.8 and ceiling["knn"]["leakage"] == pytest.approx(1.0)
    text = (tmp_path / "out" / "audit.md").read_text()
    assert "| `pixels` (input baseline) |" in text and "| `face_recognition` (ceiling) |" in text
