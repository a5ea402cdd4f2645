"""SynthGroups with recurring people (``vemd synth --identities K``): traits, audit folders, task identity."""

import csv
import hashlib
import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vemd.cli import main
from vemd.data.manifest import annotation_key, read_manifest
from vemd.data.media import read_frames
from vemd.errors import DataError
from vemd.structure.annotations import AnnotationStore
from vemd.synth import generate_dataset
from vemd.synth.face import NEUTRAL_FACE, Expression, FaceShape, face_landmarks
from vemd.synth.generate import SynthOptions, make_clip
from vemd.synth.group import CLASS_NAMES
from vemd.synth.identity import dataset_identities
from vemd.synth.person import BodyShape, PersonSpec, pose_person
from vemd.synth.scene import sample_scene

AUDIT = {"identities": 3, "per_identity": 2, "n_groups": 6, "image_size": 64, "max_people": 4, "seed": 2}


def _clip_digest(options: SynthOptions, split: str, index: int, label: int) -> str:
    frames, annotations = make_clip(options, split, index, label)
    digest = hashlib.sha256()
    for frame, annotation in zip(frames, annotations):
        digest.update(frame.tobytes())
        for person in annotation.persons:
            digest.update(person.body.tobytes())
            if person.face is not None:
                digest.update(person.face.tobytes())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize(
    ("options", "clip", "expected"),
    [
        ({"frames": 1, "seed": 5, "max_people": 6, "image_size": 64}, ("train", 0, 0), "07e2b133798b76a5"),
        ({"frames": 1, "seed": 5, "max_people": 6, "image_size": 64}, ("train", 3, 2), "31fbc85f6631ce9f"),
        ({"frames": 3, "seed": 7, "max_people": 4, "image_size": 96}, ("val", 1, 1), "1c8d77e61b866298"),
        (
            {"frames": 3, "seed": 7, "max_people": 4, "image_size": 96, "task": "ier"},
            ("train", 2, 2),
            "854d10d144f6e6ad",
        ),
    ],
)
def test_a_dataset_without_identities_is_drawn_as_before_they_existed(options, clip, expected):
    """Frames and annotations hash to what the generator made before identities were added."""
    assert _clip_digest(SynthOptions(n_train=4, n_val=2, **options), *clip) == expected


def test_face_shapes_move_the_landmarks_and_expressions_still_show():
    smile, rest = Expression(1.0, 0.4, 0.5, 1.0), Expression(0.0, 0.4, 0.0, 1.0)
    assert np.array_equal(face_landmarks(smile, NEUTRAL_FACE), face_landmarks(smile))
    shape = FaceShape(jaw=1.1, eye_spacing=1.15, eye_size=1.2, nose=1.2, mouth=0.9, brow=0.03)
    base, shaped = face_landmarks(smile), face_landmarks(smile, shape)
    assert np.ptp(shaped[0:17, 0]) == pytest.approx(1.1 * np.ptp(base[0:17, 0]))
    assert shaped[39, 0] - shaped[36, 0] == pytest.approx(1.2 * (base[39, 0] - base[36, 0]))
    assert shaped[41, 1] - shaped[37, 1] == pytest.approx(1.2 * (base[41, 1] - base[37, 1]))  # opening
    centres = shaped[[36, 39, 42, 45], 0].reshape(2, 2).mean(axis=1)
    assert np.diff(centres)[0] == pytest.approx(
        1.15 * np.diff(base[[36, 39, 42, 45], 0].reshape(2, 2).mean(1))[0]
    )
    assert shaped[33, 1] - shaped[27, 1] == pytest.approx(1.2 * (base[33, 1] - base[27, 1]))
    assert shaped[54, 0] - shaped[48, 0] == pytest.approx(0.9 * (base[54, 0] - base[48, 0]))
    assert np.allclose(shaped[17:27, 1], base[17:27, 1] - 0.03)
    # the smile lifts the mouth corners by the same amount on both faces
    lift = face_landmarks(rest)[[48, 54], 1] - base[[48, 54], 1]
    assert lift.min() > 0.05
    assert np.allclose(face_landmarks(rest, shape)[[48, 54], 1] - shaped[[48, 54], 1], lift)


def test_body_shapes_move_the_keypoints():
    look = dataset_identities(0, 2)[0].look
    common = {
        "x": 100.0,
        "y": 50.0,
        "size": 20.0,
        "valence": 0,
        "intensity": 1.0,
        "variant": 0,
        "opening": 0.0,
    }
    common |= {"active": (True,), "sway": (0.0, 0.0, 0.0), "jitter": (0.0,) * 4, "look": look}
    plain = pose_person(PersonSpec(**common), 0).body
    shape = BodyShape(shoulders=1.2, torso=0.9, legs=1.15, arms=1.1, build=1.2)
    shaped = pose_person(PersonSpec(**common, body_shape=shape), 0).body
    assert np.allclose(plain[[0, 1, 2]], shaped[[0, 1, 2]])  # the head does not move
    assert shaped[5, 0] - shaped[6, 0] == pytest.approx(1.2 * (plain[5, 0] - plain[6, 0]))
    neck = (plain[5, 1] + plain[6, 1]) / 2
    assert shaped[11, 1] - neck == pytest.approx(0.9 * (plain[11, 1] - neck), abs=0.2)
    assert shaped[15, 1] - shaped[11, 1] == pytest.approx(1.15 * (plain[15, 1] - plain[11, 1]))
    upper = [math.dist(b[5], b[7]) for b in (plain, shaped)]
    assert upper[1] == pytest.approx(1.1 * upper[0])


def test_the_same_identity_keeps_its_traits_in_every_scene_and_identities_differ():
    options = SynthOptions(n_train=0, n_val=0, identities=4, max_people=12, image_size=64, seed=9)
    cast = {person.name: person for person in options.scene.identities}
    assert list(cast) == ["p000", "p001", "p002", "p003"]
    assert dataset_identities(9, 4) == SynthOptions(n_train=50, identities=4, seed=9).scene.identities
    assert dataset_identities(9, 4)[:3] == dataset_identities(9, 3)  # identity k depends on (seed, k) only
    seen = set()
    for i in range(20):
        scene = sample_scene(np.random.default_rng(i), i % 3, options.scene)
        names = [person.identity for person in scene.people]
        assert 1 <= len(names) <= 4 and len(set(names)) == len(names)
        for person in scene.people:
            identity = cast[person.identity]
            assert (person.look, person.face_shape, person.body_shape) == (
                identity.look,
                identity.face,
                identity.body,
            )
        seen.update(names)
    assert seen == set(cast)
    people = list(cast.values())
    for a in range(4):
        for b in range(a + 1, 4):
            assert people[a].look.shirt != people[b].look.shirt
            assert people[a].face != people[b].face and people[a].body != people[b].body


def _shows(image: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return int(np.all(image == np.array(colour, np.uint8), axis=2).sum()) >= 5


@pytest.fixture(scope="module")
def audit_set(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("audit") / "sg", n_train=3, n_val=0, frames=1, progress=False, **AUDIT
    )


def test_audit_folders_and_members(audit_set):
    root = audit_set
    names = ["p000", "p001", "p002"]
    assert sorted(p.name for p in (root / "identities").iterdir()) == names
    shirts = {person.name: person.look.shirt for person in dataset_identities(2, 3)}
    for name in names:
        items = sorted((root / "identities" / name).iterdir())
        assert [p.name for p in items] == ["000.png", "001.png"]
        for path in items:
            image = cv2.imread(str(path))
            assert image.shape == (64, 64, 3) and _shows(image, shirts[name])
    with (root / "groups" / "members.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["file", "identities", "label"]
    assert [r[0] for r in rows[1:]] == [f"{i:06d}.png" for i in range(6)]
    assert sorted(p.name for p in (root / "groups").iterdir()) == sorted(
        [r[0] for r in rows[1:]] + ["members.csv"]
    )
    assert sorted(r[2] for r in rows[1:]) == sorted(CLASS_NAMES * 2)
    for file, members, _ in rows[1:]:
        listed = members.split(";")
        assert listed == sorted(listed) and 2 <= len(listed) <= 3 and set(listed) <= set(names)
        image = cv2.imread(str(root / "groups" / file))
        assert all(_shows(image, shirts[name]) for name in listed)
    saved = json.loads((root / "dataset.json").read_text())["options"]
    assert (saved["identities"], saved["per_identity"], saved["n_groups"]) == (3, 2, 6)
    records, class_names = read_manifest(root)
    assert len(records) == 3 and class_names == list(CLASS_NAMES)


def test_a_killed_run_resumes_and_skips_finished_items(audit_set, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(audit_set, partial)
    before = {p.relative_to(partial): p.read_bytes() for p in partial.rglob("*.png")}
    (partial / "groups" / "members.csv").unlink()
    (partial / "groups" / "000004.png").unlink()
    (partial / "groups" / ".000004.partial.png").write_bytes(b"half")  # killed while writing
    (partial / "identities" / "p001" / "001.png").unlink()
    kept = partial / "identities" / "p000" / "000.png"
    stamp = kept.stat().st_mtime_ns
    generate_dataset(partial, n_train=3, n_val=0, frames=1, progress=False, **AUDIT)
    assert kept.stat().st_mtime_ns == stamp  # done items are not redrawn
    assert {p.relative_to(partial): p.read_bytes() for p in partial.rglob("*.png")} == before
    assert not list(partial.rglob(".*.partial.*"))
    for name in ("members.csv",):
        assert (partial / "groups" / name).read_bytes() == (audit_set / "groups" / name).read_bytes()


def test_audit_items_do_not_depend_on_the_workers(audit_set, tmp_path):
    again = generate_dataset(
        tmp_path / "two", n_train=3, n_val=0, frames=1, workers=2, progress=False, **AUDIT
    )
    for folder in ("identities", "groups"):
        files = sorted(p.relative_to(audit_set) for p in (audit_set / folder).rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(again) for p in (again / folder).rglob("*") if p.is_file())
        assert all((audit_set / f).read_bytes() == (again / f).read_bytes() for f in files)


def test_task_identity_labels_each_scene_with_its_person(tmp_path):
    options = {**AUDIT, "per_identity": 0, "n_groups": 0}
    root = generate_dataset(
        tmp_path / "id", n_train=6, n_val=3, frames=1, task="identity", progress=False, **options
    )
    records, class_names = read_manifest(root)
    assert class_names == ["p000", "p001", "p002"]
    assert json.loads((root / "classes.json").read_text())["task"] == "identity"
    assert sorted(r.label for r in records if r.split == "train") == [
        "p000",
        "p000",
        "p001",
        "p001",
        "p002",
        "p002",
    ]
    assert sorted(r.label for r in records if r.split == "val") == class_names
    shirts = {person.name: person.look.shirt for person in dataset_identities(2, 3)}
    store = AnnotationStore(root / "annotations")
    for record in records:
        assert len(store[annotation_key(record.clip_id, 0)].persons) == 1
        image = cv2.imread(str(root / record.path / "00.png"))
        assert _shows(image, shirts[record.label])
        assert not any(_shows(image, shirts[other]) for other in class_names if other != record.label)
    assert not (root / "identities").exists() and not (root / "groups").exists()  # no audit items asked


def test_cli_writes_videos_when_frames_exceed_one(tmp_path):
    out = tmp_path / "videos"
    argv = [
        "synth",
        "--out",
        str(out),
        "--n-train",
        "0",
        "--n-val",
        "0",
        "--frames",
        "2",
        "--image-size",
        "64",
    ]
    assert main([*argv, "--identities", "2", "--per-identity", "1", "--n-groups", "2"]) == 0
    videos = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4"))
    assert videos == [
        "groups/000000.mp4",
        "groups/000001.mp4",
        "identities/p000/000.mp4",
        "identities/p001/000.mp4",
    ]
    frames, _ = read_frames(out / videos[0], 2)
    assert len(frames) == 2 and frames[0].shape == (64, 64, 3)
    assert (out / "groups" / "members.csv").read_text().splitlines()[1].startswith("000000.mp4,p000;p001,")


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"identities": 1}, "--identities 1"),
        ({"task": "identity"}, "--task identity"),
        ({"per_identity": 3}, "--per-identity 3"),
        ({"n_groups": 5}, "--n-groups 5"),
        ({"identities": 3, "task": "identity", "audio": True}, "--task identity"),
        ({"identities": 3, "frames": 2, "image_size": 65}, "--image-size 65"),
        ({"identities": 3, "max_people": 1}, "--max-people 1"),
    ],
)
def test_bad_values_are_refused_with_one_line_naming_the_option(options, option):
    with pytest.raises(DataError, match=f"^synth: {option}: [^\n]+$"):
        SynthOptions(**options)


def test_cli_refuses_one_identity(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--identities", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--identities 1" in err and "\n" not in err
    assert not (tmp_path / "x").exists()
