"""Files ``vemd predict --out`` writes: results, a timeline table and timeline plots.

An output folder is shared safely: results merge by input. ``predictions.json`` holds one
entry per input, named by its absolute path; a new result for an input replaces its entry
and every other entry stays. ``timeline.csv`` is rewritten from all entries. A video longer
than one window gets ``timeline-<last parts of its path>-<hash of the path>.png``, a name of
its own. Every file is written atomically (a temporary file in the folder, then a rename), so
a run killed while writing leaves the earlier file whole. Runs that write the same folder at
once take turns on a lock of the folder itself (:func:`vemd.io.locked_folder`: no lock file is
left behind), so none loses another's entries; the temporary files of a killed run are removed
by the next. A folder holding predictions over other classes is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from pathlib import Path

from vemd.errors import DataError
from vemd.inference.predictor import VALENCE_KEY
from vemd.inference.results import AROUSAL_KEY
from vemd.io import atomic_write_text, locked_folder

RESULTS = "predictions.json"
TIMELINE = "timeline.csv"
# the outputs of a regression system (ABAW 2024), which has no class: they stand for its classes
REGRESSION_OUTPUTS = [VALENCE_KEY, AROUSAL_KEY]


def output_names(predictor) -> list[str]:
    """What a predictor's results are over: its class names, or valence and arousal."""
    return list(predictor.class_names) if predictor.capabilities.classes else REGRESSION_OUTPUTS


def _outputs(entry: dict) -> list[str]:
    return list(entry["probs"]) if isinstance(entry.get("probs"), dict) else REGRESSION_OUTPUTS


def check_out(out: Path, class_names: list[str]) -> None:
    """Before any work: the results already in ``out``, if any, are readable and over
    ``class_names``; DataError naming the problem otherwise."""
    _check_classes(_read_results(out / RESULTS), class_names, out / RESULTS)


def write_prediction_report(
    results: list[dict], class_names: list[str], out: Path, truth: dict[str, list[dict]] | None = None
) -> None:
    """Merge ``results`` into ``out``: ``predictions.json``, ``timeline.csv``, PNGs of videos.

    ``timeline.csv`` ends with a ``valence`` column when an entry has a valence;
    ``class_names`` :data:`REGRESSION_OUTPUTS` (a regression system's results) gives
    valence and arousal columns and plots instead of classes. ``truth``: the true label over
    time of inputs where it is known (input path → ``{"start", "end", "label"}`` spans), drawn
    as a band above their class timelines; it is written nowhere else.
    """
    truth = {os.path.abspath(k): v for k, v in (truth or {}).items()}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{out}: cannot create the output folder ({err.strerror})") from err
    with locked_folder(out):
        _remove_temporary_files(out)
        entries = {entry["input"]: entry for entry in _read_results(out / RESULTS)}
        _check_classes(list(entries.values()), class_names, out / RESULTS)
        fresh = [{**result, "input": os.path.abspath(result["input"])} for result in results]
        entries |= {entry["input"]: entry for entry in fresh}
        merged = [entries[key] for key in sorted(entries)]
        atomic_write_text(out / RESULTS, json.dumps(merged, indent=2))
        atomic_write_text(out / TIMELINE, _timeline_csv(merged, class_names))
        for entry in fresh:
            _plot(entry, class_names, out / plot_name(entry["input"]), truth.get(entry["input"]))


def plot_name(input_path: str | Path) -> str:
    """The timeline plot's file name of an input: ``timeline-<last three parts of its absolute
    path, sanitised>-<8 hex digits of the path's hash>.png``."""
    path = os.path.abspath(input_path)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(Path(path).parts[-3:])).strip("._")[-80:]
    digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:8]
    return f"timeline-{stem}-{digest}.png"


def _plot(entry: dict, class_names: list[str], path: Path, truth: list[dict] | None) -> None:
    from vemd.eval.plots import plot_timeline, plot_va_timeline

    if (
        len(entry["windows"]) <= 1
    ):  # one window now: a plot from an earlier run of the same input is out of date
        path.unlink(missing_ok=True)
    elif class_names == REGRESSION_OUTPUTS:
        plot_va_timeline(entry["windows"], path)
    else:
        windows = [{**w, "probs": [w["probs"][c] for c in class_names]} for w in entry["windows"]]
        plot_timeline(windows, class_names, path, truth)


def _timeline_csv(entries: list[dict], class_names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if class_names == REGRESSION_OUTPUTS:
        writer.writerow(["input", "start", "end", *REGRESSION_OUTPUTS])
        for entry in entries:
            for w in entry["windows"]:
                writer.writerow(
                    [entry["input"], f"{w['start']:.3f}", f"{w['end']:.3f}", w[VALENCE_KEY], w[AROUSAL_KEY]]
                )
        return buffer.getvalue()
    valence = any(VALENCE_KEY in e for e in entries)
    header = ["input", "start", "end", "label", *[f"prob_{c}" for c in class_names]]
    writer.writerow(header + ([VALENCE_KEY] if valence else []))
    for entry in entries:
        for w in entry["windows"]:
            probs = [w["probs"][c] for c in class_names]
            row = [entry["input"], f"{w['start']:.3f}", f"{w['end']:.3f}", w["label"], *probs]
            writer.writerow(row + ([w.get(VALENCE_KEY, "")] if valence else []))
    return buffer.getvalue()


def _read_results(path: Path) -> list[dict]:
    """The entries of an earlier ``predictions.json`` (none when there is none)."""
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(
            f"{path}: unreadable predictions file ({type(err).__name__}); use another --out"
        ) from err
    if not isinstance(entries, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("input"), str)
        and (isinstance(e.get("probs"), dict) or isinstance(e.get(AROUSAL_KEY), int | float))
        and isinstance(e.get("windows"), list)
        for e in entries
    ):
        raise DataError(f"{path}: not a predictions file of vemd predict; use another --out")
    return entries


def _check_classes(entries: list[dict], class_names: list[str], path: Path) -> None:
    for entry in entries:
        if _outputs(entry) != list(class_names):
            raise DataError(
                f"{path}: holds predictions over {_what(_outputs(entry))}, this model predicts "
                f"{_what(list(class_names))}; use another --out"
            )


def _what(names: list[str]) -> str:
    return "valence and arousal" if names == REGRESSION_OUTPUTS else f"classes {names}"


def _remove_temporary_files(out: Path) -> None:
    """The temporary files of our outputs a killed run left (:func:`vemd.io.atomic_write`'s
    ``.<name>.<hex>.tmp``), and the lock file earlier versions left; called with the folder's
    lock held, so no live run is writing them."""
    for pattern in (f".{RESULTS}.*.tmp", f".{TIMELINE}.*.tmp", ".timeline-*.png.*.tmp", ".predictions.lock"):
        for stale in out.glob(pattern):
            stale.unlink(missing_ok=True)
