import json

import numpy as np
import pytest

from vemd.structure.annotations import AnnotationFormatError, AnnotationStore, FrameAnnotation, Person


def _frame(rng, num_persons, width=320, height=240):
    persons = []
    for i in range(num_persons):
        body = np.concatenate([rng.uniform(0, 200, (17, 2)), rng.integers(0, 2, (17, 1))], 1)
        face = np.concatenate([rng.uniform(0, 200, (68, 2)), np.ones((68, 1))], 1)
        persons.append(Person(body=body if i % 3 != 2 else None, face=face if i % 2 == 0 else None))
    return FrameAnnotation(width, height, persons)


def _same(a: FrameAnnotation, b: FrameAnnotation):
    assert (a.width, a.height, len(a.persons)) == (b.width, b.height, len(b.persons))
    for pa, pb in zip(a.persons, b.persons):
        for part in ("body", "face"):
            va, vb = getattr(pa, part), getattr(pb, part)
            assert (va is None) == (vb is None)
            if va is not None:
                np.testing.assert_allclose(va, vb)


def test_round_trip_with_variable_persons(tmp_path):
    rng = np.random.default_rng(0)
    frames = {f"clip{i}/{t}": _frame(rng, num_persons=(i + t) % 5) for i in range(7) for t in range(3)}
    with AnnotationStore(tmp_path / "ann", create=True, shard_size=8) as store:
        store.extend(frames.items())
    reread = AnnotationStore(tmp_path / "ann")
    assert len(reread) == len(frames)
    assert len(list((tmp_path / "ann").glob("shard-*.npz"))) == 3  # 21 frames, 8 per shard
    for key, frame in frames.items():
        _same(frame, reread[key])
    assert reread["clip0/0"].persons == []


def test_append_resume_and_duplicate_keys(tmp_path):
    rng = np.random.default_rng(1)
    with AnnotationStore(tmp_path / "ann", create=True) as store:
        store.add("a/0", _frame(rng, 2))
    with AnnotationStore(tmp_path / "ann") as store:  # a resumed job
        assert "a/0" in store and "b/0" not in store
        store.add("b/0", _frame(rng, 1))
        with pytest.raises(KeyError, match="already stored"):
            store.add("a/0", _frame(rng, 1))
    assert sorted(AnnotationStore(tmp_path / "ann").keys()) == ["a/0", "b/0"]


def test_shape_validation():
    with pytest.raises(ValueError, match=r"\(17, 3\)"):
        Person(body=np.zeros((18, 3)))


def test_missing_and_foreign_store(tmp_path):
    with pytest.raises(AnnotationFormatError, match="no meta.json"):
        AnnotationStore(tmp_path / "nothing")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "meta.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(AnnotationFormatError, match="not a vemd annotation store"):
        AnnotationStore(tmp_path / "foreign")


def test_future_version_is_refused(tmp_path):
    AnnotationStore(tmp_path / "ann", create=True)
    meta = tmp_path / "ann" / "meta.json"
    meta.write_text(json.dumps({"format": "vemd-annotations", "version": 99}))
    with pytest.raises(AnnotationFormatError, match="version 99"):
        AnnotationStore(tmp_path / "ann")


def test_corrupt_shard_is_named(tmp_path):
    rng = np.random.default_rng(2)
    with AnnotationStore(tmp_path / "ann", create=True) as store:
        store.add("a/0", _frame(rng, 2))
    shard = next((tmp_path / "ann").glob("shard-*.npz"))
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(AnnotationFormatError, match=shard.name):
        AnnotationStore(tmp_path / "ann")


def test_inconsistent_shard_is_refused(tmp_path):
    AnnotationStore(tmp_path / "ann", create=True)
    np.savez(
        tmp_path / "ann" / "shard-000000.npz",
        keys=np.array(["a/0"]),
        sizes=np.zeros((1, 2), np.int32),
        offsets=np.array([0, 5]),  # claims 5 persons
        body=np.zeros((1, 17, 3), np.float32),
        face=np.zeros((1, 68, 3), np.float32),
        has_body=np.ones(1, bool),
        has_face=np.ones(1, bool),
    )
    with pytest.raises(AnnotationFormatError, match="inconsistent"):
        AnnotationStore(tmp_path / "ann")


def test_no_temporary_files_left(tmp_path):
    rng = np.random.default_rng(3)
    with AnnotationStore(tmp_path / "ann", create=True) as store:
        store.add("a/0", _frame(rng, 2))
    assert not list((tmp_path / "ann").glob(".*tmp"))


def test_a_shard_another_writer_added_is_never_replaced(tmp_path):
    rng = np.random.default_rng(0)
    first = AnnotationStore(tmp_path / "ann", create=True)
    second = AnnotationStore(tmp_path / "ann")  # opened before the first wrote anything
    first.add("a/0", _frame(rng, 1))
    second.add("b/0", _frame(rng, 2))
    first.flush()
    written = (tmp_path / "ann" / "shard-000000.npz").read_bytes()
    with pytest.raises(AnnotationFormatError, match="shard-000000.npz: written by another process"):
        second.flush()
    assert (tmp_path / "ann" / "shard-000000.npz").read_bytes() == written
    assert AnnotationStore(tmp_path / "ann").keys() == ["a/0"]
    assert not list((tmp_path / "ann").glob(".*.tmp"))
