"""Drawing annotations on their frames, so a person can check them by eye."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from vemd.annotate.sources import MediaItem
from vemd.errors import DataError
from vemd.structure.annotations import AnnotationStore, FrameAnnotation
from vemd.structure.skeleton import BODY_LIMBS, FACE_CONTOUR

BODY_COLOUR, FACE_COLOUR, JOINT_COLOUR = (255, 140, 0), (0, 220, 255), (255, 255, 255)


def draw_annotation(image: np.ndarray, frame: FrameAnnotation) -> np.ndarray:
    """A copy of an RGB uint8 (H, W, 3) frame with limbs, face contours and joints drawn."""
    import cv2

    out = image.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for person in frame.persons:
        for points, limbs, colour in (
            (person.body, BODY_LIMBS, BODY_COLOUR),
            (person.face, FACE_CONTOUR, FACE_COLOUR),
        ):
            if points is None:
                continue
            for a, b in limbs:
                if points[a, 2] > 0 and points[b, 2] > 0:
                    ends = [tuple(int(v) for v in points[k, :2]) for k in (a, b)]
                    cv2.line(out, *ends, colour, thickness, cv2.LINE_AA)
            for x, y, v in points:
                if v > 0:
                    cv2.circle(out, (int(x), int(y)), thickness, JOINT_COLOUR, -1, cv2.LINE_AA)
    return out


def write_previews(
    store: AnnotationStore, items: list[MediaItem], out_dir: str | Path, num: int, seed: int = 0
) -> list[Path]:
    """Draw ``num`` stored frames (chosen at random among those of ``items``) into PNGs."""
    import cv2

    from vemd.data.media import read_frames_at

    by_clip = {item.clip_id: item for item in items}
    keys = [k for k in sorted(store.keys()) if k.rpartition("/")[0] in by_clip]
    if not keys and len(store) and items:
        raise DataError(
            f"{store.root}: no stored key belongs to the media given (store: {next(iter(store.keys()))!r}, "
            f"media: '{items[0].clip_id}/0'); a store written by `vemd annotate NAME ROOT` is drawn "
            "with `vemd annotate NAME ROOT --preview N`"
        )
    random.Random(seed).shuffle(keys)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key in keys[:num]:
        clip_id, _, index = key.rpartition("/")
        image = read_frames_at(by_clip[clip_id].path, [int(index)])[0]
        path = out_dir / (key.replace("/", "__") + ".png")
        cv2.imwrite(str(path), cv2.cvtColor(draw_annotation(image, store[key]), cv2.COLOR_RGB2BGR))
        written.append(path)
    return written
