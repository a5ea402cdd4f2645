"""Per-frame valence/arousal annotation files, in the layout AffWild2 is distributed in.

::

    valence,arousal
    0.112,-0.034
    -5,-5
    ...

A header line, then one ``valence,arousal`` line per source frame (line k + 2 is frame k).
AffWild2 marks a frame nobody annotated (or whose face was not visible) with -5 in both
columns; such a value, or any value outside [-1, 1], is read as NaN, which every regression
loss and metric of vemd leaves out (:func:`vemd.models.regression.valid_targets`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from vemd.errors import DataError

HEADER = "valence,arousal"
INVALID = -5.0


@lru_cache(maxsize=256)
def read_va_file(path: str | Path) -> np.ndarray:
    """(N, 2) float32 valence/arousal per frame, NaN where invalid; DataError naming the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable valence/arousal file ({type(err).__name__})") from None
    if not lines or lines[0].replace(" ", "").lower() != HEADER:
        raise DataError(
            f"{path}:1: expected the header {HEADER!r}, got {lines[0][:40]!r}" if lines else f"{path}: empty"
        )
    values = np.empty((len(lines) - 1, 2), np.float32)
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        try:
            if len(cells) != 2:
                raise ValueError
            values[number - 2] = [float(cells[0]), float(cells[1])]
        except ValueError:
            raise DataError(
                f"{path}:{number}: expected two numbers 'valence,arousal', got {line[:40]!r}"
            ) from None
    values[(values < -1) | (values > 1) | ~np.isfinite(values)] = np.nan
    return values


def write_va_file(path: str | Path, values: np.ndarray) -> None:
    """(N, 2) per-frame values → the text layout above (NaN written as -5), atomically."""
    from vemd.io import atomic_write_text

    rows = [HEADER]
    for v, a in np.asarray(values, dtype=np.float64):
        rows.append(",".join("-5" if not np.isfinite(x) else f"{x:.4f}" for x in (v, a)))
    atomic_write_text(Path(path), "\n".join(rows) + "\n")


def frame_targets(path: str | Path | None, indices: list[int]) -> np.ndarray:
    """(T, 2) values at source frame ``indices``; NaN beyond the file's end or without a file."""
    out = np.full((len(indices), 2), np.nan, np.float32)
    if path is None:
        return out
    values = read_va_file(str(path))
    for i, index in enumerate(indices):
        if 0 <= index < len(values):
            out[i] = values[index]
    return out
