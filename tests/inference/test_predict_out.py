"""vemd predict --out DIR is safe to share: results merge by input under a lock, plots are
named after their input, and a folder vemd cannot merge into is refused before any work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.data import bad_media

from vemd.cli import main
from vemd.inference.report import plot_name, write_prediction_report

CLASSES = ["a", "b", "c"]


def _predict(model_file, out, *inputs, window="1") -> int:
    args = ["predict", *map(str, inputs), "--ckpt", str(model_file), "--window", window, "--out", str(out)]
    return main(args)


def _entries(out: Path) -> dict[str, dict]:
    return {e["input"]: e for e in json.loads((out / "predictions.json").read_text())}


def test_runs_into_one_folder_merge_by_input(model_file, tmp_path, capsys):
    clip_a = bad_media.video(tmp_path / "a", 40, "clip.mp4")  # same name, other folder
    clip_b = bad_media.video(tmp_path / "b", 30, "clip.mp4")
    image = bad_media.good_png(tmp_path / "c")
    out = tmp_path / "out"
    assert _predict(model_file, out, clip_a) == 0
    assert _predict(model_file, out, clip_b, image) == 0
    entries = _entries(out)
    assert set(entries) == {str(clip_a), str(clip_b), str(image)}
    assert len(entries[str(clip_a)]["windows"]) == 4 and len(entries[str(clip_b)]["windows"]) == 3
    rows = (out / "timeline.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 + 3 + 1
    plots = sorted(p.name for p in out.glob("*.png"))
    assert plots == sorted([plot_name(str(clip_a)), plot_name(str(clip_b))])  # no index, no clash
    assert all("clip.mp4" in name for name in plots)

    # the same input again replaces its own entry (and plot), the others stay
    assert _predict(model_file, out, clip_a, window="2") == 0
    entries = _entries(out)
    assert len(entries) == 3 and len(entries[str(clip_a)]["windows"]) == 2
    assert len(entries[str(clip_b)]["windows"]) == 3
    assert _predict(model_file, out, clip_a, window="10") == 0  # one window now: no plot
    assert sorted(p.name for p in out.glob("*.png")) == [plot_name(str(clip_b))]


def test_relative_inputs_merge_with_their_absolute_path(model_file, tmp_path, monkeypatch):
    image = bad_media.good_png(tmp_path / "media")
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    assert _predict(model_file, out, Path("media") / image.name) == 0
    monkeypatch.chdir(tmp_path / "media")
    assert _predict(model_file, out, image.name) == 0
    assert list(_entries(out)) == [str(image)]


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vemd.inference.report import write_prediction_report

    out, name, start = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    while not start.exists():
        time.sleep(0.005)
    probs = {"a": 0.2, "b": 0.3, "c": 0.5}
    for i in range(40):
        window = {"start": 0.0, "end": 0.0, "label": "c", "probs": probs}
        result = {"input": f"/media/{name}-{i}.jpg", "duration": 0.0, "label": "c", "probs": probs,
                  "windows": [window]}
        write_prediction_report([result], ["a", "b", "c"], out)
    """
)


def test_two_processes_writing_one_folder_at_once_lose_nothing(tmp_path):
    out, start = tmp_path / "out", tmp_path / "start"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(out), name, str(start)], env=env)
        for name in ("first", "second")
    ]
    start.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    entries = _entries(out)
    assert len(entries) == 80
    assert len((out / "timeline.csv").read_text().splitlines()) == 81


def test_a_folder_with_predictions_over_other_classes_is_refused_before_any_work(
    model_file, tmp_path, capsys
):
    out = tmp_path / "out"
    other = {"input": "/x.jpg", "duration": 0.0, "label": "p", "probs": {"p": 1.0}, "windows": []}
    write_prediction_report([other], ["p"], out)
    before = (out / "predictions.json").read_text()
    assert _predict(model_file, out, bad_media.good_png(tmp_path)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out / "predictions.json") in err[0] and "classes" in err[0], err
    assert (out / "predictions.json").read_text() == before


def test_a_damaged_predictions_file_in_out_is_one_line(model_file, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    for text in ("{not json", '{"a": 1}', "\x00\x01binary"):
        (out / "predictions.json").write_text(text)
        assert _predict(model_file, out, bad_media.good_png(tmp_path)) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(out / "predictions.json") in err[0], err
        assert (out / "predictions.json").read_text() == text


def test_a_run_leaves_no_lock_file_and_clears_what_killed_runs_left(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    left = [
        ".predictions.lock",
        ".predictions.json.0123456789abcdef.tmp",
        ".timeline-x.png.0123456789abcdef.tmp",
    ]
    for name in left:  # an earlier version's lock file, a killed run's half-written files
        (out / name).write_bytes(b"")
    probs = {"a": 0.2, "b": 0.3, "c": 0.5}
    window = {"start": 0.0, "end": 0.0, "label": "c", "probs": probs}
    result = {"input": "/media/x.jpg", "duration": 0.0, "label": "c", "probs": probs, "windows": [window]}
    write_prediction_report([result], CLASSES, out)
    assert sorted(p.name for p in out.iterdir()) == ["predictions.json", "timeline.csv"]
