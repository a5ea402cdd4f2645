"""The audit folders of ``vemd synth --identities K``: each identity alone, and groups of them.

::

    OUT/identities/<name>/<NNN>.png  ``per_identity`` scenes of identity <name> alone (random valence,
                                     expression, posture, size, position, background)
    OUT/groups/<NNNNNN>.png          ``n_groups`` group scenes of 2..min(max_people, K) identities
    OUT/groups/members.csv           file,identities,label: the file (relative to groups/), the
                                     identities among its people (sorted, joined with ";"), the class
                                     of the group (:mod:`vemd.synth.group`); written last

With ``frames`` T > 1 every item is an MP4 instead (``.mp4``, T frames at :data:`FPS` fps, H.264).
They are what ``vemd audit --identities OUT/identities --groups OUT/groups`` reads: re-identification
of held-out items of the same people, and presence (is identity i among the people of a scene).

Determinism: item k of identity j draws from ``SeedSequence([seed, ALONE_STREAM, j, k])``, group
scene i from ``SeedSequence([seed, GROUP_STREAM, i])`` and the group classes are a seeded
permutation of exactly balanced classes, so nothing depends on the workers or on resuming. An item
is written to a hidden temporary name beside it and then renamed; a rerun skips the items that
exist. ``members.csv`` is rebuilt from the scenes' draws (no rendering), so a resumed run writes
the same file.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vemd.io import atomic_write_text
from vemd.synth.group import CLASS_NAMES
from vemd.synth.render import render_frames
from vemd.synth.scene import Scene, sample_scene

if TYPE_CHECKING:
    from vemd.synth.generate import SynthOptions

ALONE_STREAM, GROUP_STREAM = 4, 5  # first words after the dataset seed (splits 0..2, identities 3)
FPS = 5
MEMBERS = "members.csv"


def audit_jobs(options: SynthOptions) -> list[tuple[str, int, int]]:
    """Every item: ("alone", identity, item) and ("group", index, class), in writing order."""
    alone = [("alone", j, k) for j in range(options.identities) for k in range(options.per_identity)]
    groups = [("group", i, int(y)) for i, y in enumerate(group_labels(options))]
    return alone + groups


def group_labels(options: SynthOptions) -> np.ndarray:
    """(n_groups,) class indices of the group scenes: exactly balanced, seeded order."""
    rng = np.random.default_rng([options.seed, GROUP_STREAM, 1 << 20])
    return rng.permutation(np.arange(options.n_groups) % len(CLASS_NAMES))


def item_path(options: SynthOptions, job: tuple[str, int, int]) -> str:
    """The item's file, relative to the dataset root."""
    kind, a, b = job
    suffix = ".mp4" if options.frames > 1 else ".png"
    if kind == "alone":
        return f"identities/{options.scene.identities[a].name}/{b:03d}{suffix}"
    return f"groups/{a:06d}{suffix}"


def item_scene(options: SynthOptions, job: tuple[str, int, int]) -> Scene:
    """The scene of one item, from its own seed."""
    kind, a, b = job
    if kind == "alone":
        rng = np.random.default_rng(np.random.SeedSequence([options.seed, ALONE_STREAM, a, b]))
        return sample_scene(rng, a, replace(options.scene, task="identity"))
    rng = np.random.default_rng(np.random.SeedSequence([options.seed, GROUP_STREAM, a]))
    return sample_scene(rng, b, replace(options.scene, task="ger", min_people=2))


def write_item(root: Path, options: SynthOptions, job: tuple[str, int, int]) -> None:
    """Render one item and write it to its file (a temporary name, then renamed)."""
    frames = [frame for frame, _, _ in render_frames(item_scene(options, job))]
    final = root / item_path(options, job)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.stem}.partial{final.suffix}")
    if len(frames) == 1:
        if not cv2.imwrite(str(partial), frames[0]):
            raise OSError(f"{partial}: could not write the image")
    else:
        write_video(partial, frames)
    os.replace(partial, final)


def write_video(path: Path, frames: list[np.ndarray], fps: int = FPS) -> None:
    """Frames (S, S, 3) uint8 BGR as an H.264 MP4 (yuv420p, so S must be even)."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.width, stream.height = width, height
        stream.options = {"crf": "18"}  # small faces: keep their features through the compression
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())


def item_done(root: Path, options: SynthOptions, job: tuple[str, int, int]) -> bool:
    return (root / item_path(options, job)).is_file()


def write_members(root: Path, options: SynthOptions) -> Path:
    """Write ``groups/members.csv`` atomically (file,identities,label of every group scene)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "identities", "label"])
    for i, y in enumerate(group_labels(options)):
        job = ("group", i, int(y))
        scene = item_scene(options, job)
        names = sorted(person.identity for person in scene.people)
        writer.writerow([Path(item_path(options, job)).name, ";".join(names), CLASS_NAMES[int(y)]])
    path = root / "groups" / MEMBERS
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buffer.getvalue())
    return path
