"""Offline annotator on the real fixture photos: speed, per-stage time and accuracy.

Prints, on ``../shared/fixtures/images``:

- face detection recall/precision (IoU ≥ 0.5) and landmark error (mean point distance / box
  size) against ``faces_gt/training_with_face_landmarks.xml``;
- faces, bodies and paired persons per photo beside the counts made by eye (fixtures README);
- in one process: frames/s, CPU s per frame and the time of each stage (dlib HOG, yuface,
  dlib landmarks; MediaPipe Pose calls);
- through the runner ``vemd annotate --workers N`` uses (a spawned pool, one backend per
  worker): frames/s with N worker processes (default: every usable core), model start-up
  apart, and whether every worker found the same people as the single process;
- one ``summary:`` line at the end with the frames/s, the worker count and the recall figures.

The cores are shared: other processes running at the same time slow every figure, so the
load average is printed first; CPU s per frame depends much less on it.

    .venv/bin/python benchmarks/bench_annotate.py [--no-yuface] [--workers N] [--repeats R]
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vemd.annotate.backends.offline import OfflineBackend
from vemd.annotate.backends.offline_faces import box_iou
from vemd.annotate.pairing import pair_persons
from vemd.annotate.runner import Sampling, iter_results, usable_cores
from vemd.annotate.sources import MediaItem
from vemd.data.media import read_image
from vemd.structure.annotations import AnnotationStore, FrameAnnotation

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures"
# People counted by eye (faces, bodies), as in the fixtures README, except that the Obama and
# Biden photo also shows a girl's face and body at the lower right (a fourth person at the
# right edge shows neither face nor enough body, and is not counted).
BY_EYE = {
    "facenet_multiface.jpg": (6, 6),
    "facerec_two_people.jpg": (2, 2),
    "facerec_obama_and_biden.jpg": (3, 3),
}


def ground_truth(xml_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """file name → (N, 4) boxes x0, y0, x1, y1 and (N, 68, 2) landmarks, from dlib imglab XML."""
    out = {}
    for image in ET.parse(xml_path).getroot().iter("image"):
        boxes, marks = [], []
        for box in image.iter("box"):
            top, left, width, height = (float(box.get(k)) for k in ("top", "left", "width", "height"))
            boxes.append((left, top, left + width, top + height))
            parts = sorted(box.iter("part"), key=lambda p: int(p.get("name")))
            marks.append([(float(p.get("x")), float(p.get("y"))) for p in parts])
        out[image.get("file")] = (np.array(boxes), np.array(marks))
    return out


@dataclass
class FaceScore:
    hits: int
    total: int
    found: int
    errors: list[float]

    def line(self) -> str:
        return (
            f"recall {self.hits}/{self.total} = {self.hits / self.total:.2f}, "
            f"precision {self.hits}/{self.found} = {self.hits / max(self.found, 1):.2f}, "
            f"landmark error {np.mean(self.errors):.3f}"
        )


def face_accuracy(backend: OfflineBackend) -> FaceScore:
    truth = ground_truth(FIXTURES / "faces_gt" / "training_with_face_landmarks.xml")
    score = FaceScore(0, 0, 0, [])
    for name, (boxes, marks) in truth.items():
        faces = backend.detect_faces(read_image(FIXTURES / "faces_gt" / name))
        predicted = np.array([f.box for f in faces]).reshape(-1, 4)
        iou = box_iou(boxes, predicted) if len(predicted) else np.zeros((len(boxes), 0))
        for g in range(len(boxes)):
            if iou.shape[1] and iou[g].max() >= 0.5:
                score.hits += 1
                points = faces[int(iou[g].argmax())].landmarks[:, :2]
                size = np.sqrt(np.prod(boxes[g, 2:] - boxes[g, :2]))
                score.errors.append(np.linalg.norm(points - marks[g], axis=1).mean() / size)
        score.found += len(predicted)
        score.total += len(boxes)
    print(f"faces_gt: {score.line()} (mean / median {np.median(score.errors):.3f} of box size)")
    return score


class StageTimer:
    """Wall time and calls of named methods of the backend's parts, wrapped on the instances."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: object, method: str, label: str) -> None:
        inner = getattr(owner, method)

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        setattr(owner, method, timed)

    def line(self, frames: int) -> str:
        return ", ".join(
            f"{label} {1000 * s / frames:.0f} ms ({self.calls[label] / frames:.1f} calls)"
            for label, s in self.seconds.items()
        )


@dataclass
class PhotoCounts:
    faces: int
    bodies: int
    paired: int


def photos(backend: OfflineBackend, repeats: int) -> tuple[dict[str, PhotoCounts], float]:
    """Per-photo counts and per-stage time in this process; returns the counts and frames/s."""
    timer = StageTimer()
    timer.wrap(backend.faces, "dlib_boxes", "dlib HOG")
    timer.wrap(backend.faces, "yuface_boxes", "yuface")
    timer.wrap(backend.faces, "landmarks", "landmarks")
    timer.wrap(backend.bodies._pose, "process", "MediaPipe")
    stage = {"faces": 0.0, "bodies": 0.0}
    counts, frames, cpu = {}, 0, 0.0
    for name, (eye_faces, eye_bodies) in BY_EYE.items():
        image = read_image(FIXTURES / "images" / name)
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            faces = backend.detect_faces(image)
            middle = time.perf_counter()
            bodies = backend.detect_bodies(image, faces)
            stage["faces"] += middle - start
            stage["bodies"] += time.perf_counter() - middle
            cpu += time.process_time() - cpu_start
            frames += 1
        persons = pair_persons(bodies, faces)
        paired = sum(p.body is not None and p.face is not None for p in persons)
        counts[name] = PhotoCounts(len(faces), len(bodies), paired)
        print(
            f"{name}: faces {len(faces)} (by eye {eye_faces}), bodies {len(bodies)} (by eye {eye_bodies}), "
            f"persons {len(persons)}, paired {paired}"
        )
    rate = frames / sum(stage.values())
    print(
        f"one process: {rate:.2f} frames/s, {cpu / frames:.2f} CPU s per frame; per frame faces "
        f"{stage['faces'] / frames:.3f} s, bodies {stage['bodies'] / frames:.3f} s ({timer.line(frames)})"
    )
    return counts, rate


def pooled(workers: int, repeats: int, use_yuface: bool, counts: dict[str, PhotoCounts]) -> tuple[float, int]:
    """Frames/s through the runner ``vemd annotate --workers N`` uses, start-up apart, and the
    number of worker processes (the runner starts no more than there are items).

    Each photo is annotated ``repeats`` times (under distinct keys); the rate counts the
    frames after the first result over the time after it, less one frame per other worker
    (done by then), so the workers' model loading is left out.
    """
    items = [
        MediaItem(f"{i}/{name}", FIXTURES / "images" / name, name) for i in range(repeats) for name in BY_EYE
    ]
    factory = functools.partial(OfflineBackend, use_yuface=use_yuface)
    workers = min(workers, len(items))
    differ = 0
    with tempfile.TemporaryDirectory() as root, AnnotationStore(Path(root) / "store", create=True) as store:
        start = time.perf_counter()
        for n, result in enumerate(iter_results(items, store, factory, Sampling(), workers)):
            if n == 0:
                first = time.perf_counter()
            differ += result.problem is not None or _counts(result.records[0][1]) != counts[result.item.name]
        end = time.perf_counter()
    steady = max(len(items) - workers, 1) / max(end - first, 1e-9)
    same = (
        "the same faces, bodies and pairs per photo as one process"
        if not differ
        else f"{differ} frames DIFFER"
    )
    print(
        f"{workers} worker processes (runner pool): {len(items)} frames in {end - start:.1f} s = "
        f"{len(items) / (end - start):.2f} frames/s with start-up ({first - start:.1f} s to the first result), "
        f"{steady:.2f} frames/s after it; {same}"
    )
    return steady, workers


def _counts(frame: FrameAnnotation) -> PhotoCounts:
    paired = sum(p.body is not None and p.face is not None for p in frame.persons)
    return PhotoCounts(frame.num_faces, frame.num_bodies, paired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-yuface", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each photo in one process")
    parser.add_argument("--workers", type=int, default=usable_cores(), help="worker processes (all cores)")
    parser.add_argument("--pool-repeats", type=int, default=10, help="runs of each photo through the pool")
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"{FIXTURES}: fixtures absent")
    print(f"{usable_cores()} usable cores, load average {os.getloadavg()[0]:.1f} before the run")
    backend = OfflineBackend(use_yuface=not args.no_yuface)
    score = face_accuracy(backend)
    counts, one = photos(backend, args.repeats)
    rate, workers = pooled(args.workers, args.pool_repeats, not args.no_yuface, counts)
    found = {k: sum(getattr(c, k) for c in counts.values()) for k in ("faces", "bodies", "paired")}
    eye = [sum(v[i] for v in BY_EYE.values()) for i in (0, 1)]
    print(
        f"summary: {rate:.2f} frames/s with {workers} worker processes ({one:.2f} in one process) | "
        f"faces_gt {score.line()} | photos faces {found['faces']}/{eye[0]}, bodies {found['bodies']}/{eye[1]}, "
        f"paired {found['paired']}/{eye[1]} by eye"
    )


if __name__ == "__main__":
    main()
