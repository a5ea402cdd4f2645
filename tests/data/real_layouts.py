"""Miniature copies of the published dataset layouts made of real people.

The synthetic builders of :mod:`layouts` write grey frames, on which an annotator finds
nobody. These write the same layouts (as each loader's module docstring describes it) from
the photos and clips of ``../shared/fixtures`` (see its README): photos scaled down, clips
cut, scaled down and re-encoded, DFEW clips as folders of frame JPEGs. They are third-party
files, so they are written into the folder a test or benchmark gives, never into the
repository. Each layout holds 2-3 training items and one item in each other split, so the
offline annotator stays cheap; :data:`REAL_LAYOUTS` lists them by loader name.

Sources (counted by eye in the fixtures README):

* photos: ``facenet_multiface.jpg`` (6 people), ``facerec_two_people.jpg`` (2),
  ``facerec_obama_and_biden.jpg`` (3), ``faces_gt/2008_002079.jpg`` (PASCAL VOC group);
* ``pedestrians``: ``facenet_pedestrians.mp4``, 4.2 s at 25 fps, 6-9 people walking, scaled
  to 640×360;
* ``hamilton``: ``facerec_hamilton_clip.mp4``, 9.2 s at 29.97 fps, 640×360, 1-2 people on stage.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
VIDEOS = {"pedestrians": "facenet_pedestrians.mp4", "hamilton": "facerec_hamilton_clip.mp4"}
VIDEO_WIDTH = 640  # clips are scaled to this width (the annotator works at its own scale)
PHOTO_SIDE = 800  # photos are scaled so that their longer side is at most this


def material(*parts: str) -> Path:
    """A file of ``../shared/fixtures``; FileNotFoundError naming it when absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"real test material absent: {path} (see ../shared/fixtures/README.md)")
    return path


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


@functools.lru_cache(maxsize=2)
def video_frames(name: str) -> tuple[tuple[np.ndarray, ...], Fraction]:
    """Every RGB frame of fixture clip ``name`` (a key of :data:`VIDEOS`), scaled to
    :data:`VIDEO_WIDTH`, and the clip's frame rate."""
    with av.open(str(material("videos", VIDEOS[name]))) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate)
        height = _even(VIDEO_WIDTH * stream.height / stream.width)
        frames = tuple(
            frame.reformat(width=VIDEO_WIDTH, height=height, format="rgb24").to_ndarray()
            for frame in container.decode(stream)
        )
    return frames, rate


def write_photo(path: Path, *parts: str) -> Path:
    """Fixture photo ``parts`` (e.g. ``images``, ``facenet_multiface.jpg``) as a JPEG at ``path``,
    scaled down to :data:`PHOTO_SIDE`."""
    image = cv2.imread(str(material(*parts)))
    scale = min(1.0, PHOTO_SIDE / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def cut(name: str, start: float, seconds: float | None = None) -> tuple[list[np.ndarray], Fraction]:
    """Frames of fixture clip ``name`` from ``start`` seconds, ``seconds`` long (None: to the end)."""
    frames, rate = video_frames(name)
    first = int(round(start * rate))
    last = len(frames) if seconds is None else min(len(frames), first + int(round(seconds * rate)))
    return list(frames[first:last]), rate


def write_clip(path: Path, frames: list[np.ndarray], rate: Fraction) -> Path:
    """An MPEG-4 video of RGB ``frames`` at ``rate`` frames per second."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 3_000_000
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_cut(path: Path, name: str, start: float, seconds: float | None = None) -> Path:
    """A re-encoded cut of fixture clip ``name`` (see :func:`cut`)."""
    return write_clip(path, *cut(name, start, seconds))


def write_frame_folder(folder: Path, name: str, start: float, seconds: float, num_frames: int) -> Path:
    """``num_frames`` frames spread evenly over a cut of clip ``name``, as ``00001.jpg`` ..."""
    frames, _ = cut(name, start, seconds)
    folder.mkdir(parents=True, exist_ok=True)
    for k, i in enumerate(np.linspace(0, len(frames) - 1, num_frames).round().astype(int)):
        cv2.imwrite(str(folder / f"{k + 1:05d}.jpg"), cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR))
    return folder


def make_gaf3(root: Path) -> Path:
    """Train: the three group photos (one per class, Negative nested one level); val: a PASCAL
    VOC group photo (Positive), the other val class folders empty."""
    train = root / "train"
    write_photo(train / "Positive" / "000001.jpg", "images", "facenet_multiface.jpg")
    write_photo(train / "Neutral" / "000002.jpg", "images", "facerec_two_people.jpg")
    write_photo(train / "Negative" / "more" / "000003.jpg", "images", "facerec_obama_and_biden.jpg")
    write_photo(root / "val" / "Positive" / "000004.jpg", "faces_gt", "2008_002079.jpg")
    for name in ("Neutral", "Negative"):
        (root / "val" / name).mkdir(parents=True)
    return root


def make_vgaf(root: Path) -> Path:
    """5 s clips: train ``1_1`` = the pedestrians clip (its 105 frames played at 21 fps, so
    that it lasts 5 s) and ``2_1`` = hamilton 0-5 s; val ``3_1`` = hamilton's last 5 s."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Train_labels.txt").write_text("Vid_name Label\n1_1 1\n2_1 3\n")
    (root / "Val_labels.txt").write_text("Vid_name Label\n3_1 2\n")
    pedestrians, _ = cut("pedestrians", 0.0)
    write_clip(root / "Train" / "1_1.mp4", pedestrians, Fraction(len(pedestrians), 5))
    write_cut(root / "Train" / "2_1.mp4", "hamilton", 0.0, 5.0)
    hamilton, rate = video_frames("hamilton")
    write_cut(root / "Val" / "3_1.mp4", "hamilton", len(hamilton) / rate - 5.0)
    return root


def make_dfew(root: Path) -> Path:
    """Fold 1: train on clips 1 (hamilton 0-4 s, happy) and 2 (pedestrians, neutral), test on
    clip 3 (hamilton 5-9 s, sad); each clip a folder of 16 frame JPEGs."""
    for split, rows in (("train", "1,1\n2,3\n"), ("test", "3,2\n")):
        table = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / "set_1.csv"
        table.parent.mkdir(parents=True, exist_ok=True)
        table.write_text("video_name,label\n" + rows)
    frames = root / "Clip" / "jpg_256"
    write_frame_folder(frames / "00001", "hamilton", 0.0, 4.0, 16)
    write_frame_folder(frames / "00002", "pedestrians", 0.0, 4.2, 16)
    write_frame_folder(frames / "00003", "hamilton", 5.0, 4.0, 16)
    return root


def make_mer2023(root: Path) -> Path:
    """``train-label.csv`` with two clips (hamilton 0-3 s, pedestrians 0-3 s) and one clip in
    each of ``test{1,2,3}-label.csv`` (hamilton 3-5, 5-7, 7-9 s); videos under ``video/``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "train-label.csv").write_text(
        "name,discrete,valence\nsample_00000,happy,1.5\nsample_00001,neutral,0\n"
    )
    write_cut(root / "video" / "sample_00000.mp4", "hamilton", 0.0, 3.0)
    write_cut(root / "video" / "sample_00001.mp4", "pedestrians", 0.0, 3.0)
    for k in (1, 2, 3):
        name = f"sample_{k + 1:05d}"
        (root / f"test{k}-label.csv").write_text(f"name,discrete,valence\n{name},sad,-1\n")
        write_cut(root / "video" / f"{name}.mp4", "hamilton", 1.0 + 2.0 * k, 2.0)
    return root


def make_samsemo(root: Path) -> Path:
    """``samsemo.tsv``, ``splits/<split>_split_<LANG>.txt``: train ``en_1`` (hamilton 0-3 s),
    ``pl_1`` (pedestrians 0-3 s); valid ``en_2``, test ``en_3`` (hamilton 4-6, 7-9 s)."""
    meta = [
        ("en_1", "EN", "happiness", "we are here"),
        ("pl_1", "PL", "anger, disgust", "idziemy"),
        ("en_2", "EN", "neutral", "okay"),
        ("en_3", "EN", "sadness", "no"),
    ]
    lines = ["utterance_id\tlanguage\taggregated_emotions\ttranscript"] + ["\t".join(m) for m in meta]
    (root / "splits").mkdir(parents=True)
    (root / "samsemo.tsv").write_text("\n".join(lines) + "\n")
    for split, ids in (("train", "en_1\n"), ("valid", "en_2\n"), ("test", "en_3\n")):
        (root / "splits" / f"{split}_split_EN.txt").write_text(ids)
    (root / "splits" / "train_split_PL.txt").write_text("pl_1\n")
    write_cut(root / "EN" / "en_1.mp4", "hamilton", 0.0, 3.0)
    write_cut(root / "PL" / "pl_1.mp4", "pedestrians", 0.0, 3.0)
    write_cut(root / "EN" / "en_2.mp4", "hamilton", 4.0, 2.0)
    write_cut(root / "EN" / "en_3.mp4", "hamilton", 7.0, 2.0)
    return root


def make_engagenet(root: Path) -> Path:
    """``labels/{train,validation,test}_labels.csv`` (``chunk,label``) and ``clips/*.mp4``: train
    ``c1`` (hamilton 0-3 s), ``c2`` (pedestrians 1-4 s); validation ``c3``, test ``c4``."""
    tables = {
        "train_labels.csv": "c1.mp4,Engaged\nc2,Barely-Engaged\n",
        "validation_labels.csv": "c3,highly engaged\n",
        "test_labels.csv": "c4,Not-Engaged\n",
    }
    (root / "labels").mkdir(parents=True)
    for table, rows in tables.items():
        (root / "labels" / table).write_text("chunk,label\n" + rows)
    write_cut(root / "clips" / "c1.mp4", "hamilton", 0.0, 3.0)
    write_cut(root / "clips" / "c2.mp4", "pedestrians", 1.0, 3.0)
    write_cut(root / "clips" / "c3.mp4", "hamilton", 4.0, 2.0)
    write_cut(root / "clips" / "c4.mp4", "hamilton", 7.0, 2.0)
    return root


def make_folder(root: Path) -> Path:
    """``ROOT/<split>/<class>/<item>``: in train an image (happy), a video and a frame folder
    (sad); one image in val and in test, the other class folder there empty."""
    write_photo(root / "train" / "happy" / "a.jpg", "images", "facerec_two_people.jpg")
    write_cut(root / "train" / "sad" / "b.mp4", "hamilton", 0.0, 3.0)
    write_frame_folder(root / "train" / "sad" / "c", "pedestrians", 0.0, 4.2, 8)
    write_photo(root / "val" / "happy" / "d.jpg", "images", "facenet_multiface.jpg")
    write_photo(root / "test" / "sad" / "e.jpg", "faces_gt", "2008_002079.jpg")
    (root / "val" / "sad").mkdir(parents=True)
    (root / "test" / "happy").mkdir(parents=True)
    return root


def make_csv(root: Path) -> Path:
    """``ROOT/<split>.csv`` (``path,label``) over a photo and a video under ``media/``; val and
    test list one item of each class, so every split has both classes in the same order."""
    write_photo(root / "media" / "a.jpg", "images", "facenet_multiface.jpg")
    write_cut(root / "media" / "clips" / "b.mp4", "pedestrians", 0.0, 3.0)
    write_photo(root / "media" / "c.jpg", "faces_gt", "2008_002079.jpg")
    write_cut(root / "media" / "clips" / "d.mp4", "hamilton", 5.0, 2.0)
    both = "path,label\nmedia/c.jpg,pos\nmedia/clips/d.mp4,neg\n"
    (root / "train.csv").write_text("path,label\nmedia/a.jpg,pos\nmedia/clips/b.mp4,neg\n")
    (root / "val.csv").write_text(both)
    (root / "test.csv").write_text(both)
    return root


REAL_LAYOUTS = {
    "gaf3": make_gaf3,
    "vgaf": make_vgaf,
    "dfew": make_dfew,
    "mer2023": make_mer2023,
    "samsemo": make_samsemo,
    "engagenet": make_engagenet,
    "folder": make_folder,
    "csv": make_csv,
}
