"""The annotation runner with a fake backend: resume, problems, workers, summary, CLI."""

from __future__ import annotations

import csv
import json
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.annotate.helpers import FakeBackend, fixture, stub_backend, unloadable_backend

from vemd.annotate.runner import Sampling, run_annotation
from vemd.annotate.sources import find_items
from vemd.annotate.summary import summarise
from vemd.cli import main
from vemd.errors import VemdError
from vemd.structure.annotations import AnnotationStore


def _images(folder: Path, values: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, value in enumerate(values):
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((64, 48, 3), value, np.uint8))
    return folder


def test_resume_after_interruption_loses_and_duplicates_nothing(tmp_path):
    media = _images(tmp_path / "media", [10, 20, 30])
    items = find_items(media)
    store = AnnotationStore(tmp_path / "ann", create=True)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_annotation(items, store, partial(FakeBackend, fail_on=30.0), flush_seconds=0, progress=False)
    assert sorted(AnnotationStore(tmp_path / "ann").keys()) == ["img0.png/0", "img1.png/0"]

    backend = FakeBackend()
    store = AnnotationStore(tmp_path / "ann")
    report = run_annotation(items, store, lambda: backend, progress=False)
    assert (report.annotated_frames, report.skipped_frames) == (1, 2)
    assert backend.calls == 1  # only the missing frame was annotated
    reread = AnnotationStore(tmp_path / "ann")
    assert sorted(reread.keys()) == ["img0.png/0", "img1.png/0", "img2.png/0"]
    assert reread["img2.png/0"].num_bodies == 1 and reread["img2.png/0"].num_faces == 1


def test_video_sampled_at_requested_frames_and_bad_files_listed(tmp_path):
    video = fixture("videos", "facerec_hamilton_clip.mp4")
    media = tmp_path / "media"
    media.mkdir()
    (media / "clip.mp4").symlink_to(video)
    (media / "truncated.mp4").write_bytes(video.read_bytes()[:2000])
    (media / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    store = AnnotationStore(tmp_path / "ann", create=True)
    report = run_annotation(find_items(media), store, FakeBackend, Sampling(frames=4), progress=False)
    keys = sorted(store.keys(), key=lambda k: int(k.rpartition("/")[2]))
    assert len(keys) == 4 and all(k.startswith("clip.mp4/") for k in keys)
    assert len({int(k.rpartition("/")[2]) for k in keys}) == 4
    assert sorted(Path(p).name for p, _ in report.problems) == ["broken.jpg", "truncated.mp4"]


def test_workers_give_the_same_store_as_one_process(tmp_path):
    media = _images(tmp_path / "media", [10, 20, 30, 40])
    items = find_items(media)
    one = AnnotationStore(tmp_path / "one", create=True)
    run_annotation(items, one, FakeBackend, progress=False)
    two = AnnotationStore(tmp_path / "two", create=True)
    run_annotation(items, two, FakeBackend, workers=2, progress=False)
    assert sorted(one.keys()) == sorted(two.keys())
    for key, frame in one.items():
        np.testing.assert_array_equal(frame.stacked("body"), two[key].stacked("body"))


@pytest.mark.timeout(60)
def test_a_worker_that_cannot_load_its_backend_stops_the_run_with_its_error(tmp_path):
    # The pool used to replace the dead worker forever and the run never ended.
    items = find_items(_images(tmp_path / "media", [10, 20, 30]))
    store = AnnotationStore(tmp_path / "ann", create=True)
    with pytest.raises(VemdError, match="stub backend: its model files are missing"):
        run_annotation(items, store, unloadable_backend, workers=2, progress=False)
    assert list(AnnotationStore(tmp_path / "ann").keys()) == []


def test_no_more_worker_processes_than_sources(tmp_path):
    # One source with --workers 4 runs in this process: a lambda factory could not even be
    # sent to a spawned worker, and the backend built here does the one frame.
    items = find_items(_images(tmp_path / "media", [10]))
    backend = FakeBackend()
    report = run_annotation(
        items, AnnotationStore(tmp_path / "ann", create=True), lambda: backend, workers=4, progress=False
    )
    assert report.annotated_frames == 1 and backend.calls == 1


def test_summary_counts_empty_clips_and_q_max(tmp_path):
    from vemd.structure.annotations import FrameAnnotation, Person

    store = AnnotationStore(tmp_path / "ann", create=True)
    body = np.ones((17, 3), np.float32)
    store.add(
        "a/0", FrameAnnotation(10, 10, [Person(body=body), Person(body=body), Person(face=np.ones((68, 3)))])
    )
    store.add("a/5", FrameAnnotation(10, 10, []))
    store.add("b/0", FrameAnnotation(10, 10, []))
    store.add("other/0", FrameAnnotation(10, 10, [Person(body=body)] * 5))
    summary = summarise(store, ["a", "b"])
    assert (summary.clips, summary.frames, summary.max_bodies, summary.max_faces) == (2, 3, 2, 1)
    assert summary.empty_clips == 1 and summary.empty_percent == 50.0 and summary.q_max == 2


def test_manifest_input_annotates_the_train_split_only(tmp_path):
    from vemd.data.manifest import ClipRecord, write_manifest

    _images(tmp_path / "media", [10, 20])
    records = [
        ClipRecord("c0", "train", "pos", "media/img0.png"),
        ClipRecord("c1", "val", "neg", "media/img1.png"),
    ]
    write_manifest(tmp_path, records, ["pos", "neg"])
    assert [i.clip_id for i in find_items(tmp_path)] == ["c0"]
    assert [i.clip_id for i in find_items(tmp_path / "manifest.csv", ("train", "val"))] == ["c0", "c1"]


def test_cli_writes_problems_summary_and_exits_3_on_failures(tmp_path):
    media = _images(tmp_path / "media", [10, 20])
    (media / "bad.png").write_bytes(b"garbage")
    out = tmp_path / "ann"
    coco = tmp_path / "wb.json"
    args = [
        "annotate",
        str(media),
        "--out",
        str(out),
        "--backend",
        "stub",
        "--no-progress",
        "--preview",
        "1",
    ]
    with stub_backend():
        assert main([*args, "--export-coco", str(coco)]) == 3
    with open(out / "problems.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(r["path"]).name for r in rows] == ["bad.png"] and str(media / "bad.png") in rows[0][
        "problem"
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 2 and summary["max_bodies"] == 1 and summary["failed_sources"] == 1
    assert len(list((tmp_path / "ann-preview").glob("*.png"))) == 1
    assert len(json.loads(coco.read_text())["images"]) == 2
    with stub_backend():
        assert main(args) == 3  # rerun: nothing new, nothing duplicated
    assert json.loads((out / "summary.json").read_text())["already_stored_frames"] == 2
    assert len(AnnotationStore(out)) == 2
