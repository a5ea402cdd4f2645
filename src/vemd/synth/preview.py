"""Looking at a generated dataset: a contact sheet with labels and an annotation overlay.

Both are read back from disk (manifest, frames, annotation store), so they show what
training code will see. Written to ``<root>/previews/``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vemd.data.manifest import ClipRecord, annotation_key, read_manifest
from vemd.structure.annotations import AnnotationStore, FrameAnnotation
from vemd.structure.skeleton import BODY_LIMBS, FACE_CONTOUR

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_CAPTION = 18


def _pick(records: list[ClipRecord], class_names: list[str], per_class: int) -> list[ClipRecord]:
    """Up to ``per_class`` clips of each class, preferring the validation split."""
    ordered = sorted(records, key=lambda r: (r.split != "val", r.clip_id))
    return [r for name in class_names for r in [r for r in ordered if r.label == name][:per_class]]


def _frames(root: Path, record: ClipRecord) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((root / record.path).glob("*.png"))]


def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    strip = np.full((_CAPTION, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (3, _CAPTION - 5), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([tile, strip])


def _grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    blank = np.full_like(tiles[0], 255)
    tiles = tiles + [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows)


def draw_annotation(frame: np.ndarray, annotation: FrameAnnotation, scale: int = 2) -> np.ndarray:
    """``frame`` upscaled by ``scale`` with visible body limbs (green) and face contours (yellow)."""
    out = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for person in annotation.persons:
        for points, limbs, colour in (
            (person.body, BODY_LIMBS, (0, 255, 0)),
            (person.face, FACE_CONTOUR, (0, 220, 255)),
        ):
            if points is None:
                continue
            xy = np.round((points[:, :2] + 0.5) * scale - 0.5).astype(int)
            for a, b in limbs:
                if points[a, 2] > 0 and points[b, 2] > 0:
                    cv2.line(out, tuple(xy[a]), tuple(xy[b]), colour, 1, cv2.LINE_AA)
            for x, y in xy[points[:, 2] > 0]:
                cv2.circle(out, (int(x), int(y)), 1, (0, 0, 255), -1)
    return out


def write_previews(root: str | Path, per_class: int = 4, overlay_clips: int = 3) -> list[Path]:
    """Write ``previews/contact_sheet.png`` and ``previews/annotations.png``; return their paths."""
    root = Path(root)
    records, class_names = read_manifest(root)
    store = AnnotationStore(root / "annotations")
    chosen = _pick(records, class_names, per_class)
    tiles = []
    for record in chosen:
        frames = _frames(root, record)
        middle = len(frames) // 2
        people = len(store[annotation_key(record.clip_id, middle)].persons)
        tiles.append(_caption(frames[middle], f"{record.label} | {people} annotated"))
    out_dir = root / "previews"
    out_dir.mkdir(exist_ok=True)
    sheet, overlay = out_dir / "contact_sheet.png", out_dir / "annotations.png"
    cv2.imwrite(str(sheet), _grid(tiles, columns=per_class))
    rows = []
    for record in chosen[:: max(1, len(chosen) // overlay_clips)][:overlay_clips]:
        drawn = [
            draw_annotation(f, store[annotation_key(record.clip_id, t)])
            for t, f in enumerate(_frames(root, record))
        ]
        rows.append(_caption(np.concatenate(drawn, axis=1), f"{record.clip_id}: {record.label}"))
    cv2.imwrite(str(overlay), np.concatenate(rows))
    return [sheet, overlay]
