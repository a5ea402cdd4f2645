"""A labelled face folder, the material of composites (:mod:`vemd.synth.composites`).

::

    FACES/
      happy/S005_001_00000011.png    one face per image, cropped to the face (any size, grey or colour)
      happy/S005_001_00000011.pts    optional: its 68 iBUG points (the 300-W ``.pts`` layout)
      surprise/...

Each expression folder maps to a group class, Positive / Neutral / Negative
(:data:`DEFAULT_EXPRESSION_CLASSES`, overridden per expression by ``vemd synth
--expression-classes``), and the class gives the face its valence +1 / 0 / -1.

Points: a face with a ``.pts`` file beside it keeps those points; the others are given theirs
by a *landmarker* the caller passes (``vemd synth`` passes the offline annotator's dlib
predictor through :func:`face_crop_points`; this layer does not import ``vemd.annotate``).

Splits: files whose names differ only in a trailing ``_<number>`` (CK+'s frame number,
``S005_001_00000011``) are one *sequence*, and a sequence goes to one split only, so near-duplicate
frames never sit on both sides; each class's sequences are shared out in proportion to the split
sizes (:func:`split_faces`).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vemd.data.media import IMAGE_SUFFIXES
from vemd.errors import DataError
from vemd.structure.skeleton import NUM_FACE_JOINTS

VALENCES = {"Positive": 1, "Neutral": 0, "Negative": -1}
# The 7 CK+ expressions (and neutral, FER-2013's spellings angry / sad too). happy is the one
# positive expression; surprise is Neutral: its valence is near zero on Russell's circumplex
# (aroused, neither pleasant nor unpleasant), and it gives the Neutral faces that CK+'s seven
# expressions otherwise lack; anger, contempt, disgust, fear and sadness are Negative.
DEFAULT_EXPRESSION_CLASSES: dict[str, str] = {
    "happy": "Positive",
    "surprise": "Neutral",
    "neutral": "Neutral",
    "anger": "Negative",
    "angry": "Negative",
    "contempt": "Negative",
    "disgust": "Negative",
    "fear": "Negative",
    "sadness": "Negative",
    "sad": "Negative",
}
_SEQUENCE = re.compile(r"^(.+?)[_-]\d+$")
_CROP_SIDE = 192  # px a face crop is scaled to before the landmarker sees it
_CROP_PAD = 0.5  # border added around it (× side), so that no point falls off the image

Landmarker = Callable[[np.ndarray], np.ndarray]  # RGB (H, W, 3) uint8 face crop → (68, 2) points


@dataclass(frozen=True)
class SourceFace:
    """One face of the folder: its file, expression, valence, sequence and (68, 2) points (or None)."""

    path: Path
    expression: str
    valence: int
    sequence: str
    points: np.ndarray | None = None


def parse_expression_classes(text: str | None) -> dict[str, str]:
    """The mapping ``--expression-classes`` gives (``happy=Positive,surprise=Neutral``) over the default."""
    mapping = dict(DEFAULT_EXPRESSION_CLASSES)
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        expression, _, name = item.partition("=")
        if not expression.strip() or name.strip() not in VALENCES:
            raise DataError(
                f"synth: --expression-classes {item!r}: expected EXPRESSION=CLASS with CLASS one of "
                f"{', '.join(VALENCES)}"
            )
        mapping[expression.strip().lower()] = name.strip()
    return mapping


def read_face_folder(folder: str | Path, classes: dict[str, str]) -> list[SourceFace]:
    """The faces of ``folder`` (``<expression>/<image>``), each with its ``.pts`` points if present."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such face folder (expected <expression>/<image> files)")
    faces = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            continue
        expression = sub.name.lower()
        if expression not in classes:
            raise DataError(
                f"{sub}: expression {expression!r} has no class; add --expression-classes {expression}=CLASS"
                f" (CLASS: {', '.join(VALENCES)})"
            )
        valence = VALENCES[classes[expression]]
        for image in images:
            match = _SEQUENCE.match(image.stem)
            sequence = f"{expression}/{match.group(1) if match else image.stem}"
            pts = image.with_suffix(".pts")
            points = read_pts(pts) if pts.is_file() else None
            faces.append(SourceFace(image, expression, valence, sequence, points))
    if not faces:
        raise DataError(f"{root}: no face images in <expression>/ folders")
    missing = [name for name, v in VALENCES.items() if not any(f.valence == v for f in faces)]
    if missing:
        raise DataError(
            f"{root}: no face maps to {', '.join(missing)}; every group class needs faces "
            "(see --expression-classes)"
        )
    return faces


def read_pts(path: Path) -> np.ndarray:
    """(68, 2) float32 points of an iBUG ``.pts`` file (``n_points: 68`` then ``{ x y ... }``)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    body = text[text.find("{") + 1 : text.rfind("}")] if "{" in text and "}" in text else ""
    try:
        points = np.array([line.split()[:2] for line in body.splitlines() if line.strip()], np.float32)
    except ValueError:
        points = np.zeros((0, 2), np.float32)
    if points.shape != (NUM_FACE_JOINTS, 2) or not np.isfinite(points).all():
        raise DataError(f"{path}: expected {NUM_FACE_JOINTS} 'x y' lines between {{ and }} (iBUG .pts)")
    return points


def write_pts(path: Path, points: np.ndarray) -> None:
    """Write (68, 2) points as an iBUG ``.pts`` file."""
    lines = [f"{x:.3f} {y:.3f}" for x, y in np.asarray(points)[:, :2]]
    path.write_text(f"version: 1\nn_points: {len(lines)}\n{{\n" + "\n".join(lines) + "\n}\n")


def read_face(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 BGR face image (grey files are read as three equal channels)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: unreadable face image")
    return image


def with_points(faces: list[SourceFace], landmarker: Landmarker | None) -> list[SourceFace]:
    """The faces, each with points: its ``.pts``, else ``landmarker``'s on the face image."""
    lacking = [f for f in faces if f.points is None]
    if lacking and landmarker is None:
        raise DataError(f"{lacking[0].path}: no .pts beside it, and no landmarker to place its 68 points")
    return [
        f
        if f.points is not None
        else SourceFace(f.path, f.expression, f.valence, f.sequence, landmarker(read_face(f.path)[..., ::-1]))
        for f in faces
    ]


def face_crop_points(detector, image: np.ndarray) -> np.ndarray:
    """(68, 2) points of a face crop (RGB) in its pixels, from a detector with ``dlib_boxes`` and
    ``landmarks`` (:class:`vemd.annotate.backends.offline_faces.OfflineFaceDetector`).

    The crop is scaled to :data:`_CROP_SIDE` and framed by a replicated border (a tight crop
    has no context around the face, and dlib's predictor wants its own framing): the detector's
    largest box is used when it finds one covering a quarter of the crop, else the crop itself.
    """
    height, width = image.shape[:2]
    scale = _CROP_SIDE / max(height, width)
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    pad = round(_CROP_PAD * _CROP_SIDE)
    framed = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    box = np.array([pad, pad, pad + big.shape[1], pad + big.shape[0]], np.float32)
    found = np.asarray(detector.dlib_boxes(framed), np.float32).reshape(-1, 4)
    if len(found):
        areas = np.prod(found[:, 2:] - found[:, :2], axis=1)
        if areas.max() >= 0.25 * np.prod(box[2:] - box[:2]):
            box = found[int(np.argmax(areas))]
    points = np.asarray(detector.landmarks(framed, box), np.float32)[:, :2]
    return (points - pad) / scale


def split_faces(faces: list[SourceFace], sizes: dict[str, int], seed: int) -> dict[str, list[SourceFace]]:
    """The faces of each split with clips: sequences of each class shared in proportion to ``sizes``.

    Every split with clips gets at least one sequence of every class (a DataError says which
    class has too few); the shares are drawn from ``seed``, the same for the same folder.
    """
    splits = [s for s, n in sizes.items() if n > 0]
    by_class: dict[int, dict[str, list[SourceFace]]] = defaultdict(lambda: defaultdict(list))
    for face in faces:
        by_class[face.valence][face.sequence].append(face)
    out: dict[str, list[SourceFace]] = {s: [] for s in splits}
    total = sum(sizes[s] for s in splits)
    for valence, sequences in sorted(by_class.items()):
        names = sorted(sequences)
        if len(names) < len(splits):
            name = next(k for k, v in VALENCES.items() if v == valence)
            raise DataError(
                f"faces: {len(names)} {name} sequence(s) for {len(splits)} splits ({', '.join(splits)}); "
                "each split needs faces of its own"
            )
        order = np.random.default_rng([seed, valence + 1, 7]).permutation(len(names))
        counts = [max(1, round(len(names) * sizes[s] / total)) for s in splits[1:]]
        counts.insert(0, len(names) - sum(counts))  # the first split (train) takes the rest
        if counts[0] < 1:
            counts = [len(names) - len(splits) + 1] + [1] * (len(splits) - 1)
        start = 0
        for split, count in zip(splits, counts):
            for i in order[start : start + count]:
                out[split] += sequences[names[i]]
            start += count
    return out


def folder_digest(faces: list[SourceFace], root: str | Path) -> str:
    """A short hash of the faces' names, sizes and classes: a resumed dataset must use the same folder."""
    digest = hashlib.sha256()
    for face in faces:
        digest.update(f"{face.path.relative_to(root)}:{face.path.stat().st_size}:{face.valence};".encode())
    return digest.hexdigest()[:16]
