"""What a result gives its readers: ``to_frame()`` (a pandas DataFrame of the timeline) and the
``vemd predict --json`` lines, each saying what it is, with numbers rounded to what they mean."""

from __future__ import annotations

import sys

import pytest
from tests.data import bad_media
from tests.inference.helpers import printed

from vemd.cli import main
from vemd.inference.results import GroupEmotion, WindowPrediction


def _result() -> GroupEmotion:
    """A 2-window video result of a classifier with a valence head, seconds as a 29.97-fps video
    gives them."""
    windows = (
        WindowPrediction(0.0, 5.005005005005005, "a", {"a": 0.7123456, "b": 0.2876544}, valence=0.25),
        WindowPrediction(5.005005005005005, 10.01001001001001, "b", {"a": 0.1, "b": 0.9}, valence=-0.5),
    )
    return GroupEmotion("clip.mp4", "a", {"a": 0.4061728, "b": 0.5938272}, 10.01001001001001, windows, -0.125)


def test_to_frame_is_the_timeline_one_row_per_window():
    pd = pytest.importorskip("pandas")
    result = _result()
    frame = result.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["input", "start", "end", "label", "prob_a", "prob_b", "valence"]
    assert frame["label"].tolist() == ["a", "b"] and frame["input"].tolist() == ["clip.mp4"] * 2
    assert frame["end"].tolist() == [5.005005005005005, 10.01001001001001]  # not rounded
    assert frame["prob_a"].tolist() == [0.7123456, 0.1] and frame["valence"].tolist() == [0.25, -0.5]
    assert result.to_pandas().equals(frame)


def test_to_frame_of_an_image_is_one_row_and_of_a_regression_system_has_no_class_column():
    pytest.importorskip("pandas")
    image = GroupEmotion(
        "a.jpg", "b", {"a": 0.4, "b": 0.6}, 0, (WindowPrediction(0, 0, "b", {"a": 0.4, "b": 0.6}),)
    )
    frame = image.to_frame()
    assert len(frame) == 1 and frame.iloc[0].to_dict() == {
        "input": "a.jpg",
        "start": 0,
        "end": 0,
        "label": "b",
        "prob_a": 0.4,
        "prob_b": 0.6,
    }
    va = WindowPrediction(0.0, 0.5, None, None, valence=0.1, arousal=0.2)
    regression = GroupEmotion("v.mp4", None, None, 0.5, (va,), valence=0.1, arousal=0.2)
    assert list(regression.to_frame().columns) == ["input", "start", "end", "valence", "arousal"]
    audio = GroupEmotion(
        "v.mp4", "a", {"a": 1.0}, 0.5, (WindowPrediction(0.0, 0.5, "a", {"a": 1.0}, audio_present=True),)
    )
    assert audio.to_frame()["audio_present"].tolist() == [True]


def test_to_frame_without_pandas_is_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed: importing it fails
    with pytest.raises(ImportError, match=r"^GroupEmotion.to_frame\(\) needs pandas: pip install pandas$"):
        _result().to_frame()


def test_rounded_dicts_give_probabilities_to_4_decimals_and_seconds_to_3():
    result = _result()
    rounded = result.to_dict(rounded=True)
    assert rounded["duration"] == 10.01 and rounded["probs"] == {"a": 0.4062, "b": 0.5938}
    assert [(w["start"], w["end"]) for w in rounded["windows"]] == [(0.0, 5.005), (5.005, 10.01)]
    assert rounded["windows"][0]["probs"] == {"a": 0.7123, "b": 0.2877}
    assert rounded["valence"] == -0.125 and rounded["windows"][1]["valence"] == -0.5
    assert result.to_dict()["windows"][0]["end"] == 5.005005005005005  # the API's own dict: unrounded


def test_predict_json_lines_say_their_type_and_round_their_numbers(model_file, tmp_path, capsys):
    video = bad_media.video(tmp_path, 10, fps=7)  # 1.4285714... s
    image = bad_media.good_jpeg(tmp_path)
    args = ["predict", str(video), str(image), "--ckpt", str(model_file), "--window", "1", "--json"]
    assert main(args) == 0
    windows, results = printed(capsys.readouterr().out)  # each line: "type" window or result
    assert [w["input"] for w in windows] == [str(video), str(image)]
    assert [r["input"] for r in results] == [str(video), str(image)] and results[0]["duration"] == 1.429
    for item in [w["window"] for w in windows] + results + [w for r in results for w in r["windows"]]:
        assert all(round(p, 4) == p for p in item["probs"].values()), item
        assert all(round(item[k], 3) == item[k] for k in ("start", "end", "duration") if k in item), item
