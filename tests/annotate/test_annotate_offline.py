"""The offline backend on real photos and a real clip (needs the annotate extra and fixtures)."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.bench_annotate import ground_truth
from tests.annotate.helpers import fixture, require_annotate_extra

from vemd.data.media import read_image


@pytest.fixture(scope="module")
def backend():
    require_annotate_extra()
    from vemd.annotate.backends.offline import OfflineBackend

    return OfflineBackend()


def test_faces_and_68_landmarks_on_a_group_photo(backend):
    from vemd.annotate.backends.offline_faces import box_iou

    image = read_image(fixture("faces_gt", "2007_007763.jpg"))
    truth = ground_truth(fixture("faces_gt", "training_with_face_landmarks.xml"))["2007_007763.jpg"]
    faces = backend.detect_faces(image)
    boxes = np.array([f.box for f in faces])
    iou = box_iou(truth[0], boxes)
    assert (iou.max(axis=1) >= 0.5).sum() >= 6 and len(faces) <= 8  # 7 faces in the photo
    for g in np.flatnonzero(iou.max(axis=1) >= 0.5):
        landmarks = faces[int(iou[g].argmax())].landmarks
        assert landmarks.shape == (68, 3) and np.all(landmarks[:, 2] == 2)
        error = np.linalg.norm(landmarks[:, :2] - truth[1][g], axis=1).mean() / 37.0
        assert error < 0.1


def test_bodies_with_coco17_keypoints_paired_with_faces(backend):
    frame = backend.annotate(read_image(fixture("images", "facenet_multiface.jpg")))  # 6 people
    assert (frame.width, frame.height) == (1200, 630)
    paired = [p for p in frame.persons if p.body is not None and p.face is not None]
    assert len(paired) >= 5 and frame.num_bodies <= 7 and frame.num_faces >= 5
    for person in paired:
        body, face = person.body, person.face
        assert body.shape == (17, 3) and body[5, 2] > 0 and body[6, 2] > 0  # shoulders seen
        assert body[5, 1] > face[8, 1] - 30  # shoulders below the chin, roughly
        nose = body[0, :2]
        assert face[:, 0].min() - 20 <= nose[0] <= face[:, 0].max() + 20


def test_cli_annotates_a_clip_at_the_requested_frame_count(tmp_path):
    require_annotate_extra()
    from vemd.cli import main
    from vemd.structure.annotations import AnnotationStore

    video = fixture("videos", "facerec_hamilton_clip.mp4")
    out = tmp_path / "ann"
    assert (
        main(
            [
                "annotate",
                str(video),
                "--out",
                str(out),
                "--backend",
                "offline",
                "--frames",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    store = AnnotationStore(out)
    assert len(store) == 2 and all(k.startswith("facerec_hamilton_clip.mp4/") for k in sorted(store.keys()))
    assert sum(frame.num_faces for _, frame in store.items()) >= 1
