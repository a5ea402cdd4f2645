"""Offline annotator on the real fixture photos: speed, per-stage time and accuracy.

Prints frames/s and per-stage time (faces, bodies) on ``../shared/fixtures/images``; faces,
bodies and paired persons per photo beside the counts made by eye (fixtures README); face
detection recall/precision (IoU ≥ 0.5) and landmark error (mean point distance / box size)
against ``faces_gt/training_with_face_landmarks.xml``.

    .venv/bin/python benchmarks/bench_annotate.py [--no-yuface]
"""

from __future__ import annotations

import argparse
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from vemd.annotate.backends.offline import OfflineBackend
from vemd.annotate.backends.offline_faces import box_iou
from vemd.annotate.pairing import pair_persons
from vemd.data.media import read_image

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


def face_accuracy(backend: OfflineBackend) -> None:
    truth = ground_truth(FIXTURES / "faces_gt" / "training_with_face_landmarks.xml")
    hits = found = total = 0
    errors = []
    for name, (boxes, marks) in truth.items():
        faces = backend.detect_faces(read_image(FIXTURES / "faces_gt" / name))
        predicted = np.array([f.box for f in faces]).reshape(-1, 4)
        iou = box_iou(boxes, predicted) if len(predicted) else np.zeros((len(boxes), 0))
        for g in range(len(boxes)):
            if iou.shape[1] and iou[g].max() >= 0.5:
                hits += 1
                points = faces[int(iou[g].argmax())].landmarks[:, :2]
                size = np.sqrt(np.prod(boxes[g, 2:] - boxes[g, :2]))
                errors.append(np.linalg.norm(points - marks[g], axis=1).mean() / size)
        found += len(predicted)
        total += len(boxes)
    print(
        f"faces_gt: recall {hits}/{total} = {hits / total:.2f}, precision {hits}/{found} = {hits / max(found, 1):.2f}, "
        f"landmark error {np.mean(errors):.3f} (mean / median {np.median(errors):.3f} of box size)"
    )


def photos(backend: OfflineBackend, repeats: int) -> None:
    stage = {"faces": 0.0, "bodies": 0.0}
    frames = 0
    for name, (eye_faces, eye_bodies) in BY_EYE.items():
        image = read_image(FIXTURES / "images" / name)
        for _ in range(repeats):
            start = time.perf_counter()
            faces = backend.detect_faces(image)
            middle = time.perf_counter()
            bodies = backend.detect_bodies(image, faces)
            stage["faces"] += middle - start
            stage["bodies"] += time.perf_counter() - middle
            frames += 1
        persons = pair_persons(bodies, faces)
        paired = sum(p.body is not None and p.face is not None for p in persons)
        print(
            f"{name}: faces {len(faces)} (by eye {eye_faces}), bodies {len(bodies)} (by eye {eye_bodies}), "
            f"persons {len(persons)}, paired {paired}"
        )
    total = sum(stage.values())
    print(
        f"speed: {frames / total:.2f} frames/s; per frame faces {stage['faces'] / frames:.2f} s, "
        f"bodies {stage['bodies'] / frames:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-yuface", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"{FIXTURES}: fixtures absent")
    backend = OfflineBackend(use_yuface=not args.no_yuface)
    face_accuracy(backend)
    photos(backend, args.repeats)


if __name__ == "__main__":
    main()
