"""The ABAW 2024 static model sees faces, not frames (its §4.2.2): boxes grown by 15 pixels,
the face of a frame without one, AffWild2's cropped_aligned folders read by frame number, the
detected boxes kept on disk, and the offline detector on the real group photos of the fixtures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from tests.annotate.helpers import fixture, require_annotate_extra
from tests.systems.conftest import ABAW24_RECIPE

from vemd.config import ConfigError, load_config
from vemd.data.manifest import ClipRecord
from vemd.data.media import probe, read_frames, read_image
from vemd.structure.transforms import ClipTransform
from vemd.systems.abaw24.faces import (
    FaceBoxes,
    FaceClipDataset,
    crop_box,
    fill_missing,
    pick_face,
    sampled_frames,
    split_dataset,
)

SIZE = 32


def _resized(image: np.ndarray, size: int = SIZE) -> torch.Tensor:
    """(3, S, S) uint8 of an RGB image, as the dataset resizes a face."""
    return torch.from_numpy(ClipTransform(None, False, (size, size))(image, {})[0]).permute(2, 0, 1)


def test_a_box_grows_by_the_margin_on_every_side_and_stays_in_the_frame():
    assert crop_box(np.array([40.2, 30.0, 60.0, 55.7]), 200, 100, 15) == (25, 15, 75, 71)
    assert crop_box(np.array([5.0, 2.0, 195.0, 98.0]), 200, 100, 15) == (0, 0, 200, 100)
    assert crop_box(np.array([10.0, 10.0, 30.0, 30.0]), 200, 100, 0) == (10, 10, 30, 30)


def test_the_face_of_a_frame_is_the_largest_or_the_annotated_persons_side():
    boxes = np.array([[0, 0, 10, 10], [50, 0, 80, 30], [100, 0, 120, 20]], np.float32)
    np.testing.assert_array_equal(pick_face(boxes), boxes[1])
    np.testing.assert_array_equal(pick_face(boxes, "left"), boxes[0])
    np.testing.assert_array_equal(pick_face(boxes, "right"), boxes[2])
    assert pick_face(np.zeros((0, 4))) is None


def test_a_frame_without_a_face_takes_the_nearest_earlier_one_else_the_nearest_later():
    assert fill_missing([None, "a", None, None, "b", None]) == ["a", "a", "a", "a", "b", "b"]
    assert fill_missing([None, None]) == [None, None]


@pytest.fixture
def folder_clip(tmp_path):
    """A 4-frame clip (a frame folder, 96 × 64): frame k is flat grey 40 (k + 1) with a bright
    square, the 'face', at x = 20k … 20k + 16, y = 20 … 36."""
    clip = tmp_path / "data" / "clip"
    clip.mkdir(parents=True)
    for k in range(4):
        image = np.full((64, 96, 3), 40 * (k + 1), np.uint8)
        image[20:36, 20 * k : 20 * k + 16] = 250
        cv2.imwrite(str(clip / f"{k:03d}.png"), image)
    return tmp_path / "data", [read_image(clip / f"{k:03d}.png") for k in range(4)]


class SquareFinder:
    """A stub detector: the bright square of :func:`folder_clip`, none in the frames listed."""

    def __init__(self, blind: tuple[int, ...] = ()) -> None:
        self.blind, self.calls = blind, 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        k = int(round(image[0, 0, 0] / 40)) - 1
        return np.zeros((0, 4)) if k in self.blind else np.array([[20 * k, 20, 20 * k + 16, 36]], np.float32)


def _dataset(root, boxes: FaceBoxes, margin: int = 4, size: int = SIZE) -> FaceClipDataset:
    record = ClipRecord("clip", "test", "neutral", "clip", valence=0.5, arousal=-0.5)
    return FaceClipDataset(
        [record], root, ["neutral"], frames=4, image_size=size, faces="detect", margin=margin, boxes=boxes
    )


def test_each_frame_is_its_detected_face_grown_by_the_margin(folder_clip):
    root, images = folder_clip
    sample = _dataset(root, FaceBoxes(detect=SquareFinder()))[0]
    assert sample["frames"].shape == (4, 3, SIZE, SIZE) and sample["frames"].dtype == torch.uint8
    for k, image in enumerate(images):
        x0, y0, x1, y1 = max(0, 20 * k - 4), 16, 20 * k + 20, 40
        torch.testing.assert_close(sample["frames"][k], _resized(image[y0:y1, x0:x1]))
    assert (sample["valence"], sample["arousal"]) == (0.5, -0.5)


def test_a_sample_of_faces_holds_what_a_sample_of_frames_holds(folder_clip):
    from vemd.data.dataset import ClipDataset

    root, _ = folder_clip
    faces = _dataset(root, FaceBoxes(detect=SquareFinder()))
    frames = ClipDataset(faces.records, root, ["neutral"], frames=4, image_size=SIZE)
    ours, theirs = faces[0], frames[0]
    assert ours.keys() == theirs.keys()
    for key in theirs.keys() - {"frames"}:
        if isinstance(theirs[key], torch.Tensor):
            torch.testing.assert_close(ours[key], theirs[key], equal_nan=True)
        else:
            assert ours[key] == theirs[key] or (ours[key] != ours[key] and theirs[key] != theirs[key])


def test_a_frame_without_a_face_takes_its_neighbours_and_an_item_without_any_is_whole_frames(folder_clip):
    root, images = folder_clip
    sample = _dataset(root, FaceBoxes(detect=SquareFinder(blind=(0, 2))))[0]
    # frames 0 and 2 found no face: 0 takes frame 1's (no earlier one), 2 takes frame 1's box too
    face_of = {1: (16, 16, 40, 40), 3: (56, 16, 80, 40)}
    for k, source in ((0, 1), (1, 1), (2, 1), (3, 3)):
        x0, y0, x1, y1 = face_of[source]
        torch.testing.assert_close(sample["frames"][k], _resized(images[k][y0:y1, x0:x1]))
    whole = _dataset(root, FaceBoxes(detect=SquareFinder(blind=(0, 1, 2, 3))))[0]
    for k, image in enumerate(images):
        torch.testing.assert_close(whole["frames"][k], _resized(image))


def test_detected_boxes_are_kept_on_disk_and_searched_once(folder_clip, tmp_path):
    root, _ = folder_clip
    finder = SquareFinder(blind=(2,))
    first = _dataset(root, FaceBoxes(tmp_path / "faces", detect=finder))[0]
    assert finder.calls == 4 and list((tmp_path / "faces").rglob("*.safetensors"))
    again = SquareFinder()  # would find frame 2's face: the cache says it has none
    second = _dataset(root, FaceBoxes(tmp_path / "faces", detect=again))[0]
    assert again.calls == 0
    torch.testing.assert_close(first["frames"], second["frames"])


def test_the_setting_is_checked():
    with pytest.raises(ConfigError, match="system.abaw24.faces"):
        load_config(ABAW24_RECIPE, ["system.abaw24.faces=retinaface"])
    with pytest.raises(ConfigError, match="cropped_aligned reads AffWild2"):
        load_config(ABAW24_RECIPE, ["system.abaw24.faces=cropped_aligned"])


def test_faces_none_reads_the_frames_as_before(tmp_path):
    from vemd.data.dataset import ClipDataset

    cfg = load_config(ABAW24_RECIPE, ["system.abaw24.faces=none", f"data.root={tmp_path}"])
    with pytest.MonkeyPatch.context() as patch:
        plain = ClipDataset([], tmp_path, ["a"])
        patch.setattr("vemd.systems.abaw24.faces.split_data", lambda *args, **kw: (plain, None))
        assert split_dataset(cfg, "test", train=False)[0] is plain
        cfg.system.abaw24.faces = "detect"
        assert isinstance(split_dataset(cfg, "test", train=False)[0], FaceClipDataset)


# ---- AffWild2's cropped_aligned ------------------------------------------------------------------


@pytest.fixture
def affwild2_crops(tmp_path):
    """An AffWild2 layout: one 12-frame video at 5 fps (windows of 4 frames 0.2 s apart: frames
    0-3, 4-7, 8-11), real face crops of the fixtures as ``cropped_aligned/v1/<frame + 1>.jpg``
    for frames 0-7 but frames 2 and 5, none for frames 8-11."""
    from vemd.data.va import write_va_file
    from vemd.synth.identity_sets import write_video

    crops = sorted(fixture("faces_expr", "happy").glob("*.png"))[:8]
    root = tmp_path / "affwild2"
    (root / "videos").mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_video(
        root / "videos" / "v1.mp4", [rng.integers(0, 255, (64, 96, 3), np.uint8) for _ in range(12)], fps=5
    )
    labels = root / "annotations" / "VA_Estimation_Challenge" / "Train_Set"
    labels.mkdir(parents=True)
    write_va_file(labels / "v1.txt", np.tile([[0.25, 0.5]], (12, 1)))
    faces = root / "cropped_aligned" / "v1"
    faces.mkdir(parents=True)
    for frame, crop in enumerate(crops):
        if frame not in (2, 5):
            cv2.imwrite(str(faces / f"{frame + 1:05d}.jpg"), cv2.imread(str(crop)))
    return root


def test_cropped_aligned_faces_are_read_by_their_frame_number(affwild2_crops):
    root = affwild2_crops
    cfg = load_config(
        ABAW24_RECIPE,
        [
            "data.name=affwild2",
            f"data.root={root}",
            "data.frames=4",
            "data.sampling=fps",
            "data.frame_interval=0.2",
            f"model.image_size={SIZE}",
            "system.abaw24.faces=cropped_aligned",
        ],
    )
    dataset, _ = split_dataset(cfg, "train", train=False)
    assert [r.clip_id for r in dataset.records] == ["v1@0", "v1@4", "v1@8"]
    crop = lambda frame: read_image(root / "cropped_aligned" / "v1" / f"{frame + 1:05d}.jpg")  # noqa: E731
    for row, expected in ((0, (0, 1, 1, 3)), (1, (4, 4, 6, 7))):  # 2 → 1 (earlier), 5 → 4
        indices = sampled_frames(dataset, dataset.records[row], probe(root / "videos" / "v1.mp4"))
        assert indices == [4 * row + k for k in range(4)]
        sample = dataset[row]
        for k, frame in enumerate(expected):
            torch.testing.assert_close(sample["frames"][k], _resized(crop(frame)))
        assert torch.allclose(sample["va"], torch.tensor([0.25, 0.5]).expand(4, 2))
    # no crop in the window: its whole frames
    images, _ = read_frames(root / "videos" / "v1.mp4", 4, sampling="fps", interval=0.2, span=(8, 12))
    whole = dataset[2]["frames"]
    for k, image in enumerate(images):
        torch.testing.assert_close(whole[k], _resized(image))


# ---- the offline detector on a real group photo ---------------------------------------------------


def test_the_offline_detector_crops_a_real_face_with_its_chin(tmp_path):
    """dlib + yuface on a PASCAL VOC group photo (7 faces, ground-truth boxes): the item's face
    is a real one (IoU >= 0.5 with a true box), and the crop, 15 px more on every side, holds
    the whole true box."""
    require_annotate_extra()
    from benchmarks.bench_annotate import ground_truth

    from vemd.annotate.backends.offline_faces import box_iou
    from vemd.systems.abaw24.faces import offline_detector

    photo = fixture("faces_gt", "2007_007763.jpg")
    truth = ground_truth(fixture("faces_gt", "training.xml"))[photo.name][0]  # (7, 4)
    image = read_image(photo)
    face = pick_face(offline_detector()(image))
    iou = box_iou(face[None], truth)[0]
    assert iou.max() >= 0.5
    x0, y0, x1, y1 = crop_box(face, image.shape[1], image.shape[0], 15)
    true = truth[int(iou.argmax())]
    assert x0 <= true[0] and y0 <= true[1] and x1 >= true[2] and y1 >= true[3]
    record = ClipRecord("photo", "test", "neutral", str(photo))
    dataset = FaceClipDataset([record], tmp_path, ["neutral"], frames=2, image_size=SIZE, faces="detect")
    sample = dataset[0]
    for k in range(2):
        torch.testing.assert_close(sample["frames"][k], _resized(image[y0:y1, x0:x1]))


def test_vemd_test_of_a_model_of_faces_reads_faces_and_keeps_their_boxes_beside_the_model(
    va_root, tmp_path, monkeypatch
):
    from tests.systems.conftest import ABAW24_TINY

    from vemd.systems import SYSTEMS, load_artifact
    from vemd.systems.abaw24.evaluate import evaluate_abaw24
    from vemd.systems.base import TestOptions
    from vemd.systems.common import save_system

    searched = []

    def stub():
        def detect(image):
            searched.append(image.shape)
            return np.array([[8, 8, 40, 40]], np.float32)

        return detect

    monkeypatch.setattr("vemd.systems.abaw24.faces.offline_detector", stub)
    cfg = load_config(ABAW24_RECIPE, [*ABAW24_TINY, f"data.root={va_root}", "system.abaw24.faces=detect"])
    torch.manual_seed(0)
    path = save_system(
        SYSTEMS["abaw24"].build(cfg), cfg, ["negative", "neutral", "positive"], tmp_path / "model.pt"
    )
    evaluate_abaw24(load_artifact(path), TestOptions(out_dir=tmp_path / "report"))
    assert len(searched) == 12 * 4  # every sampled frame of the 12 test clips, once
    assert list((tmp_path / "abaw24" / "faces").rglob("*.safetensors"))


# ---- vemd predict of a model of faces --------------------------------------------------------------


def _faces_model(tmp_path, *overrides: str):
    """A tiny untrained model of detected faces (64-px input), written to a model file."""
    from tests.systems.conftest import ABAW24_TINY

    from vemd.systems import SYSTEMS
    from vemd.systems.common import save_system

    cfg = load_config(ABAW24_RECIPE, [*ABAW24_TINY, "system.abaw24.faces=detect", *overrides])
    torch.manual_seed(0)
    return save_system(
        SYSTEMS["abaw24"].build(cfg), cfg, ["negative", "neutral", "positive"], tmp_path / "model.pt"
    )


def _model_input(monkeypatch) -> list[torch.Tensor]:
    """Every batch of frames (B, T, 3, S, S) the predictor gives the ABAW 2024 model."""
    from vemd.systems.abaw24 import ABAW24System

    given, predict = [], ABAW24System.predict_clips

    def record(model, frames, waveforms=None, present=None):
        given.append(frames.clone())
        return predict(model, frames, waveforms, present)

    monkeypatch.setattr(ABAW24System, "predict_clips", staticmethod(record))
    return given


def test_vemd_predict_gives_a_model_of_faces_the_faces_training_gave_it(folder_clip, tmp_path, monkeypatch):
    """The same detector, margin and no-face rule: the predictor's input of a clip is the
    training dataset's sample of it (frames 0 and 2 without a face take frame 1's box)."""
    from vemd.inference.predictor import GroupEmotionPredictor

    root, images = folder_clip
    monkeypatch.setattr("vemd.systems.abaw24.faces.offline_detector", lambda: SquareFinder(blind=(0, 2)))
    given = _model_input(monkeypatch)
    predictor = GroupEmotionPredictor(_faces_model(tmp_path), precision="fp32")
    predictor.predict(root / "clip")
    trained = _dataset(root, FaceBoxes(detect=SquareFinder(blind=(0, 2))), margin=15, size=64)
    assert len(given) == 1 and given[0].shape == (1, 4, 3, 64, 64)
    torch.testing.assert_close(given[0][0], trained[0]["frames"])
    assert not torch.equal(given[0][0, 3], _resized(images[3], 64))  # not the whole frame


def test_vemd_predict_crops_the_face_of_each_frame_of_a_real_clip(tmp_path, monkeypatch):
    """A real stage clip (640 × 360, 1-2 people) through the offline detector: each frame the
    model reads is its largest face grown by 15 px and resized, not the frame."""
    require_annotate_extra()
    from vemd.data.media import read_frames_at
    from vemd.inference.predictor import GroupEmotionPredictor
    from vemd.systems.abaw24.faces import crop, offline_detector

    clip = fixture("videos", "facerec_hamilton_clip.mp4")
    given = _model_input(monkeypatch)
    predictor = GroupEmotionPredictor(_faces_model(tmp_path), precision="fp32")
    windows, _ = predictor.windows(clip)
    predictor.predict(clip)
    inputs = torch.cat(given)  # (W, T, 3, 64, 64)
    assert inputs.shape[:2] == (len(windows), 4)
    detect, cropped = offline_detector(), 0
    for window, frames in zip(windows, inputs):
        for k, image in enumerate(read_frames_at(clip, window.indices)):
            box = pick_face(detect(image))
            if box is None:  # takes a neighbour's box: the rule is tested above
                continue
            cropped += 1
            torch.testing.assert_close(frames[k], _resized(crop(image, box, 15), 64))
            assert not torch.equal(frames[k], _resized(image, 64))
    assert cropped >= len(windows) * 4 // 2


def test_a_model_of_cropped_aligned_faces_is_given_detected_faces_and_says_so(monkeypatch, caplog):
    from vemd.systems.abaw24.faces import FaceView, face_view

    monkeypatch.setattr("vemd.systems.abaw24.faces.offline_detector", SquareFinder)
    cfg = load_config(ABAW24_RECIPE, ["data.name=affwild2", "system.abaw24.faces=cropped_aligned"])
    with caplog.at_level("WARNING"):
        view = face_view(cfg, 64)
    assert isinstance(view, FaceView) and view.margin == cfg.system.abaw24.face_margin
    assert sum("a video has no such crops" in r.message for r in caplog.records) == 1
    cfg.system.abaw24.faces = "none"
    assert not isinstance(face_view(cfg, 64), FaceView)
