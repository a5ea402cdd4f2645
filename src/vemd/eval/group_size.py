"""Accuracy by the number of people in the clip, written by ``vemd test``.

Larger groups are expected to be harder: their members show one emotion less consistently,
so the group's label is less visible in any one face. The EmotiW 2020 audio-video study of an inflated
ResNet-50 reports this split (its Table VI: accuracy on clips with fewer than five detected
faces vs five or more), which that system's evaluation gives by default
(:mod:`vemd.systems.emotiw20.evaluate`); elsewhere the buckets are the user's (``--group-sizes``).

People per clip come from the dataset's annotation store when it holds the evaluated clips,
else from the faces found by the face counter the caller gives (``vemd test``: the offline
detector's, :func:`vemd.annotate.backends.offline_faces.face_counter`; evaluation does not import
the annotation package), counted one of two ways (``people``):

* ``most`` (vemd's): the most people annotated in any one of the clip's frames (bodies or faces),
  else the faces on the clip's middle frame;
* ``mean_faces`` (the EmotiW 2020 study's, its §III-E): faces per frame averaged over the clip —
  the store's annotated frames, else the frames the model reads (``data.frames`` as sampled) —
  rounded down, which leaves every clip in the bucket of its mean (the edges are integers).

The count is a number per clip used only here; the report holds group-level statistics per
bucket::

    group_size.csv   bucket,clips,correct,accuracy,ci95_low,ci95_high
    group_size.png   accuracy per bucket, Wilson 95 % CI, clip counts, chance line
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vemd.config import ConfigError, DataConfig
from vemd.data.coverage import open_annotations
from vemd.data.dataset import ClipDataset
from vemd.errors import DataError, VemdError
from vemd.eval.metrics import wilson_interval
from vemd.eval.plots import _save
from vemd.io import atomic_write_text
from vemd.structure import AnnotationStore
from vemd.structure.annotations import AnnotationFormatError

log = logging.getLogger(__name__)

DEFAULT_EDGES = (1, 2, 4, 7, 11)  # buckets 1, 2–3, 4–6, 7–10, 11+
PEOPLE = ("most", "mean_faces")  # how a clip's people are counted (module docstring)
UNKNOWN = "unknown"  # clips whose people could not be counted
CSV_COLUMNS = ("bucket", "clips", "correct", "accuracy", "ci95_low", "ci95_high")
# Makes a function image (H, W, 3) uint8 → number of faces; raises ImportError, VemdError or
# RuntimeError when it cannot (vemd.annotate.backends.offline_faces.face_counter).
FaceCounter = Callable[[], Callable[[np.ndarray], int]]


def check_edges(edges: Sequence[int]) -> tuple[int, ...]:
    """``edges`` as a tuple; ConfigError unless they are strictly increasing integers >= 1."""
    edges = tuple(edges)
    valid = (
        len(edges) > 0
        and all(isinstance(e, int | np.integer) and e >= 1 for e in edges)
        and all(a < b for a, b in zip(edges, edges[1:]))
    )
    if not valid:
        raise ConfigError(
            f"--group-sizes {','.join(map(str, edges))}: bucket edges must be strictly increasing "
            "integers >= 1 (e.g. 1,2,4,8)"
        )
    return tuple(int(e) for e in edges)


def parse_edges(text: str) -> tuple[int, ...] | None:
    """Edges of ``--group-sizes``: ``"1,2,4,8"`` → (1, 2, 4, 8); ``"none"`` → None (no analysis)."""
    if text.strip().lower() == "none":
        return None
    try:
        edges = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(
            f"--group-sizes {text}: expected comma-separated integers (e.g. 1,2,4,8) or none"
        ) from None
    return check_edges(edges)


def bucket_labels(edges: Sequence[int]) -> list[str]:
    """One label per edge: (1, 2, 4, 8) → ["1", "2–3", "4–7", "8+"]."""
    labels = []
    for lo, hi in zip(edges, [*edges[1:], None]):
        labels.append(f"{lo}+" if hi is None else str(lo) if hi == lo + 1 else f"{lo}–{hi - 1}")
    return labels


def below_label(edges: Sequence[int]) -> str:
    """The bucket of counts under the first edge (nobody found, or fewer than asked for)."""
    return "0" if edges[0] == 1 else f"0–{edges[0] - 1}"


def bucket_of(count: int | None, edges: Sequence[int]) -> str:
    """The bucket label of ``count`` people (None: uncounted)."""
    if count is None:
        return UNKNOWN
    if count < edges[0]:
        return below_label(edges)
    return bucket_labels(edges)[int(np.searchsorted(edges, count, side="right")) - 1]


def _per_clip(counts: dict[str, list[int]], people: str) -> dict[str, int]:
    """Each clip's count from those of its frames: the most, or the mean rounded down."""
    if people not in PEOPLE:
        raise ValueError(f"people must be one of {', '.join(PEOPLE)}, got {people!r}")
    if people == "most":
        return {clip_id: max(frames) for clip_id, frames in counts.items()}
    return {clip_id: int(np.floor(np.mean(frames))) for clip_id, frames in counts.items()}


def people_from_annotations(
    store: AnnotationStore, clip_ids: Sequence[str], people: str = "most"
) -> dict[str, int]:
    """People in each of ``clip_ids`` that has annotated frames: the largest count in any frame
    (``most``: a frame counts the larger of its bodies and its faces, so a person whose face and
    body were not paired into one record is still one person), or the mean of the frames' faces
    rounded down (``mean_faces``)."""
    wanted, frames = set(clip_ids), {}
    for key in store.keys():  # noqa: SIM118 (a store is not a dict: it has no __iter__)
        clip_id = key.rpartition("/")[0]
        if clip_id in wanted:
            frame = store[key]
            count = frame.num_faces if people == "mean_faces" else max(frame.num_bodies, frame.num_faces)
            frames.setdefault(clip_id, []).append(count)
    return _per_clip(frames, people)


def people_from_faces(
    dataset: ClipDataset, clip_ids: Sequence[str], face_counter: FaceCounter, people: str = "most"
) -> dict[str, int] | None:
    """Faces counted by the function ``face_counter()`` makes on each clip's middle frame
    (``most``) or on the frames the dataset reads of it, averaged and rounded down
    (``mean_faces``); None when it cannot make one (the ``annotate`` extra missing). Clips whose
    frames cannot be read are left out."""
    from vemd.data.media import read_frames

    try:
        count_faces = face_counter()
    except (ImportError, VemdError, RuntimeError) as err:
        log.info("group size: skipped, no annotation store and no offline face detector (%s)", err)
        return None
    records = {r.clip_id: r for r in dataset.records}
    if people == "mean_faces":
        sampled = {"frames": dataset.frames, "sampling": dataset.sampling, "interval": dataset.interval}
        log.info("group size: counting faces on %d frames of each of %d clips", dataset.frames, len(clip_ids))
    else:
        sampled = {"frames": 1}
        log.info("group size: counting faces on the middle frame of %d clips", len(clip_ids))
    counts = {}
    for clip_id in clip_ids:
        record = records[clip_id]
        span = (
            None
            if record.start_frame is None and record.end_frame is None
            else (record.start_frame, record.end_frame)
        )
        try:
            images, _ = read_frames(dataset.media_path(record), span=span, **sampled)
        except DataError as err:
            log.warning("group size: %s", err)
            continue
        counts[clip_id] = [int(count_faces(image)) for image in images]
    return _per_clip(counts, people)


def count_people(
    dataset: ClipDataset,
    data_cfg: DataConfig,
    clip_ids: Sequence[str],
    face_counter: FaceCounter | None = None,
    people: str = "most",
) -> tuple[dict[str, int], str] | None:
    """People per clip, counted as ``people`` says (module docstring), and where the counts come
    from (``annotations`` or ``faces``), or None.

    The store is the one ``dataset`` reads, else the one ``data_cfg`` names (if any); without
    one, faces are counted when a ``face_counter`` is given (:func:`people_from_faces`).
    """
    store = dataset.annotations
    if store is None:
        try:
            store = open_annotations(data_cfg)
        except AnnotationFormatError as err:
            log.warning("group size: annotations not used (%s)", err)
    if store is not None:
        counts = people_from_annotations(store, clip_ids, people)
        if counts:
            return counts, "annotations"
        if face_counter is not None:
            log.info("group size: %s holds none of the evaluated clips; counting faces instead", store.root)
    if face_counter is None:
        log.info("group size: skipped, no annotation store of the clips and no face counter given")
        return None
    counts = people_from_faces(dataset, clip_ids, face_counter, people)
    return None if counts is None else (counts, "faces")


def group_size_table(
    counts: Sequence[int | None], correct: Sequence[bool], edges: Sequence[int]
) -> list[dict]:
    """Rows ``bucket, clips, correct, accuracy, ci95`` over the clips of ``counts`` (N,) people
    (None: uncounted) and ``correct`` (N,). Every edge's bucket is listed (accuracy None when
    empty); the buckets under the first edge and ``unknown`` only when they hold clips."""
    edges = check_edges(edges)
    buckets = [bucket_of(c, edges) for c in counts]
    order = [below_label(edges), *bucket_labels(edges), UNKNOWN]
    rows = []
    for label in order:
        hits = [bool(ok) for b, ok in zip(buckets, correct) if b == label]
        if not hits and label in (order[0], UNKNOWN):
            continue
        row = {"bucket": label, "clips": len(hits), "correct": sum(hits), "accuracy": None, "ci95": None}
        if hits:
            row["accuracy"] = sum(hits) / len(hits)
            row["ci95"] = list(wilson_interval(sum(hits), len(hits)))
        rows.append(row)
    return rows


def write_group_size_csv(path: str | Path, rows: list[dict]) -> Path:
    """``group_size.csv`` of :func:`group_size_table` rows (empty cells where a bucket has no clip)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        shares = [row["accuracy"], *(row["ci95"] or (None, None))]
        cells = ["" if v is None else f"{v:.4f}" for v in shares]
        writer.writerow([row["bucket"], row["clips"], row["correct"], *cells])
    atomic_write_text(path, buffer.getvalue())
    return Path(path)


def plot_group_size(rows: list[dict], num_classes: int, path: str | Path, source: str = "") -> Path:
    """Bar chart of accuracy per bucket with Wilson 95 % CI error bars, each bucket's clip count
    under its name and its accuracy over its bar, and the chance line 1 / ``num_classes``."""
    accuracy = np.array([np.nan if row["accuracy"] is None else row["accuracy"] for row in rows])
    low = np.array([np.nan if row["ci95"] is None else row["ci95"][0] for row in rows])
    high = np.array([np.nan if row["ci95"] is None else row["ci95"][1] for row in rows])
    x = np.arange(len(rows))
    figure = Figure(figsize=(2.6 + 1.0 * len(rows), 4), layout="constrained")
    ax = figure.add_subplot()
    colors = ["0.7" if row["bucket"] == UNKNOWN else "tab:blue" for row in rows]
    ax.bar(x, np.nan_to_num(accuracy), color=colors, width=0.65)
    ax.errorbar(
        x, accuracy, yerr=[accuracy - low, high - accuracy], fmt="none", ecolor="black", capsize=4, lw=1
    )
    for i in x:
        shown = "no clip" if np.isnan(accuracy[i]) else f"{accuracy[i]:.0%}"
        ax.text(i, np.nan_to_num(high[i]) + 0.02, shown, ha="center", va="bottom", fontsize=9)
    chance = 1 / num_classes
    ax.axhline(chance, color="tab:red", ls="--", lw=1, label=f"chance ({chance:.0%})")
    ax.set_xticks(x, [f"{row['bucket']}\n(n={row['clips']})" for row in rows])
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("people in the clip" + (f" (from {source})" if source else ""))
    ax.set_ylabel("accuracy")
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    total = sum(row["clips"] for row in rows)
    ax.set_title(f"Accuracy by group size ({total} clips, 95% Wilson CI)")
    return _save(figure, path)


def group_size_report(
    dataset: ClipDataset,
    data_cfg: DataConfig,
    clip_ids: Sequence[str],
    correct: np.ndarray,
    edges: Sequence[int],
    num_classes: int,
    out: str | Path,
    face_counter: FaceCounter | None = None,
    *,
    people: str = "most",
    others: Mapping[str, np.ndarray] | None = None,
) -> dict | None:
    """Write ``group_size.csv`` and ``group_size.png`` into ``out`` for the evaluated
    ``clip_ids`` (N,) of ``dataset`` and whether each was ``correct`` (N,); the figures for
    ``metrics.json`` (``source``, ``people``, ``edges``, ``buckets``, and ``others``: the rows of
    each other named prediction's correctness (N,), e.g. a system's single branches), or None
    when nobody can be counted (people from the annotation store, else faces by
    ``face_counter``, counted as ``people`` says: :func:`count_people`)."""
    edges = check_edges(edges)
    found = count_people(dataset, data_cfg, clip_ids, face_counter, people)
    if found is None:
        return None
    counts, source = found
    per_clip = [counts.get(c) for c in clip_ids]
    rows = group_size_table(per_clip, correct, edges)
    out = Path(out)
    write_group_size_csv(out / "group_size.csv", rows)
    plot_group_size(rows, num_classes, out / "group_size.png", source)
    report = {"source": source, "people": people, "edges": list(edges), "buckets": rows}
    if others:
        report["others"] = {name: group_size_table(per_clip, ok, edges) for name, ok in others.items()}
    return report
