"""vemd predict on inputs it cannot use: one line each, a non-zero exit, nothing written;
unusual but valid images predict; a truncated video is predicted over what decodes."""

from __future__ import annotations

import json
import math

import pytest
from tests.data import bad_media
from tests.inference.helpers import printed_results

from vemd.cli import main
from vemd.data.media import decodable_frames
from vemd.inference.predictor import PUBLIC_KEYS, GroupEmotionPredictor


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_inputs_holding_no_media_are_an_error_and_write_nothing(model_file, tmp_path, capsys):
    empty, other = tmp_path / "empty", tmp_path / "notes"
    empty.mkdir()
    other.mkdir()
    (other / "readme.txt").write_text("no media here")
    out = tmp_path / "out"
    assert main(["predict", str(empty), str(other), "--ckpt", str(model_file), "--out", str(out)]) == 1
    err = _err_lines(capsys)
    assert len(err) == 1 and str(empty) in err[0] and str(other) in err[0], err
    assert not out.exists()


def test_an_empty_folder_among_good_inputs_is_named_and_fails_the_run(model_file, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    image = bad_media.good_png(tmp_path / "media")
    assert main(["predict", str(empty), str(image), "--ckpt", str(model_file), "--json"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and str(empty) in err[0], err
    assert [r["input"] for r in printed_results(captured.out)] == [str(image)]


def test_out_naming_an_existing_file_is_refused_before_any_work(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    image = bad_media.good_png(tmp_path / "media")
    # the model file does not exist: the --out check comes first
    assert main(["predict", str(image), "--ckpt", str(tmp_path / "gone.pt"), "--out", str(taken)]) == 1
    err = _err_lines(capsys)
    assert len(err) == 1 and str(taken) in err[0] and "--out" in err[0], err
    assert taken.read_text() == "mine"


@pytest.mark.parametrize("window", ["0", "-1", "nan", "inf", "-inf"])
def test_a_window_that_is_not_a_positive_number_is_refused(model_file, tmp_path, capsys, window):
    video = bad_media.video(tmp_path, 40)
    out = tmp_path / "out"
    code = main(["predict", str(video), "--ckpt", str(model_file), f"--window={window}", "--out", str(out)])
    assert code == 1
    err = _err_lines(capsys)
    assert len(err) == 1 and "--window" in err[0] and "> 0" in err[0], err
    assert not out.exists()


@pytest.mark.parametrize("window", [0, -1.0, math.nan, math.inf])
def test_the_python_api_refuses_such_a_window_too(model_file, window):
    with pytest.raises(ValueError, match="window"):
        GroupEmotionPredictor(model_file, window=window)


def test_a_small_window_still_means_that_window(model_file, tmp_path):
    result = GroupEmotionPredictor(model_file, window=1.0).predict(bad_media.video(tmp_path, 40))
    assert len(result.windows) == 4 and result.duration == pytest.approx(4.0)


@pytest.mark.parametrize("writer", ["cmyk_jpeg", "png16", "rgba_png", "gray_jpeg"])
def test_unusual_valid_images_predict(model_file, tmp_path, capsys, writer):
    image = getattr(bad_media, writer)(tmp_path)
    assert main(["predict", str(image), "--ckpt", str(model_file), "--json"]) == 0
    (result,) = printed_results(capsys.readouterr().out)
    assert set(result) == PUBLIC_KEYS | {"type"}  # probabilities printed to 4 decimals each:
    assert sum(result["probs"].values()) == pytest.approx(1, abs=len(result["probs"]) * 5e-5)


@pytest.mark.parametrize("writer", ["zero_byte_jpg", "truncated_jpeg", "truncated_png", "text_named_jpg"])
def test_a_broken_image_among_inputs_is_one_line_and_the_others_run(model_file, tmp_path, capsys, writer):
    bad = getattr(bad_media, writer)(tmp_path / "media")
    good = bad_media.good_jpeg(tmp_path / "media")
    out = tmp_path / "out"
    assert (
        main(["predict", str(tmp_path / "media"), "--ckpt", str(model_file), "--json", "--out", str(out)])
        == 1
    )
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0], err
    assert [r["input"] for r in printed_results(captured.out)] == [str(good)]
    assert [e["input"] for e in json.loads((out / "predictions.json").read_text())] == [str(good)]


def test_a_truncated_video_is_predicted_over_the_frames_that_decode(model_file, tmp_path, capsys):
    cut = bad_media.cut_mp4(tmp_path)  # header: 40 frames at 10 fps; about a third decode
    decoded = decodable_frames(cut)
    assert 10 <= decoded < 40
    code = main(["predict", str(cut), "--ckpt", str(model_file), "--window", "0.5", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and str(cut) in err[0] and "40 frames" in err[0] and f"{decoded} decode" in err[0]
    (result,) = printed_results(captured.out)
    assert result["duration"] == pytest.approx(decoded / 10)
    assert result["windows"][-1]["end"] <= decoded / 10 + 1e-9  # no window it never saw
    assert len(result["windows"]) == round(decoded / 5)


def test_a_truncated_video_through_the_api_notifies_once(model_file, tmp_path):
    cut = bad_media.cut_mp4(tmp_path)
    notices = []
    predictor = GroupEmotionPredictor(model_file, window=0.5, notify=notices.append)
    result = predictor.predict(cut)
    assert len(notices) == 1 and f"40 frames, {decodable_frames(cut)} decode" in notices[0]
    assert result.duration == pytest.approx(decodable_frames(cut) / 10)


def test_a_video_of_which_no_frame_decodes_fails_with_one_line(model_file, tmp_path, capsys):
    video = bad_media.video(tmp_path, 40, "nothing.mp4", faststart=True, noise=True)
    data = video.read_bytes()
    video.write_bytes(data[: data.index(b"mdat") + 4])  # the index, then no frame data
    assert main(["predict", str(video), "--ckpt", str(model_file), "--json"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and str(video) in err[0], err
    assert captured.out == ""
