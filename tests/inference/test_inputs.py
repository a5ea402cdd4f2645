"""One input expansion for ``vemd predict INPUT...`` and ``predictor.predict``: a file, a folder,
a frame folder, a glob, a list of paths, a URL or frames in memory mean the same in both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.data import bad_media
from tests.data.layouts import write_frames
from tests.inference.helpers import printed_results

import vemd
from vemd.cli import main
from vemd.errors import VemdError
from vemd.inference.inputs import Input, expand_inputs, is_frame_folder
from vemd.inference.results import GroupEmotion

FIXTURES = Path("/work/shared/fixtures")


def _media(root: Path) -> Path:
    """``root/media``: two images, a video, a frame folder, a subfolder with an image, and what a
    folder expansion skips (a text file, a hidden image, a folder without media)."""
    media = root / "media"
    bad_media.good_png(media, "b.png")
    bad_media.good_jpeg(media, "a.jpg")
    bad_media.video(media, 10, "clip.mp4")
    write_frames(media / "frames", 3)
    bad_media.good_jpeg(media / "more", "c.jpg")
    (media / "notes.txt").write_text("not media")
    bad_media.good_jpeg(media, ".hidden.jpg")
    (media / "empty").mkdir()
    return media


def _names(items: list[Input]) -> list[str]:
    return [item.name for item in items]


def _cli_inputs(args: list[str], model_file, capsys) -> list[str]:
    assert main(["predict", *args, "--ckpt", str(model_file), "--json", "--no-progress"]) == 0
    return [result["input"] for result in printed_results(capsys.readouterr().out)]


# ---------------------------------------------------------------- the expansion


def test_a_folder_is_each_media_file_and_each_frame_folder_sorted(tmp_path):
    media = _media(tmp_path)
    items, several = expand_inputs(media)
    assert several
    assert _names(items) == [str(media / n) for n in ("a.jpg", "b.png", "clip.mp4", "frames", "more/c.jpg")]
    assert [item.kind for item in items] == ["file", "file", "file", "clip", "file"]
    assert expand_inputs(str(media)) == (items, True)  # a str and a Path mean the same


def test_a_frame_folder_is_one_clip(tmp_path):
    frames = write_frames(tmp_path / "clip", 4)
    (frames / "labels.txt").write_text("other files do not count")
    assert is_frame_folder(frames)
    assert expand_inputs(frames) == ([Input("clip", frames)], False)
    # images named otherwise, a video or a subfolder make it a folder of media
    named = bad_media.good_jpeg(tmp_path / "named", "IMG_0001.jpg")
    bad_media.good_jpeg(tmp_path / "named", "0002.jpg")
    assert not is_frame_folder(named.parent)
    assert expand_inputs(named.parent).several
    bad_media.video(frames, 5, "00009.mp4")
    assert not is_frame_folder(frames)


def test_a_glob_is_each_match_expanded_sorted(tmp_path):
    media = _media(tmp_path)
    items, several = expand_inputs(str(media / "*"))  # matches: files, folders, a text file
    assert several
    assert _names(items) == _names(expand_inputs(media).items)
    assert _names(expand_inputs(f"{media}/**/*.jpg").items) == [
        str(media / "a.jpg"),
        *(str(p) for p in sorted((media / "frames").glob("*.jpg"))),
        str(media / "more" / "c.jpg"),
    ]
    one, several = expand_inputs(str(media / "*.mp4"))
    assert _names(one) == [str(media / "clip.mp4")] and several  # a collection, even of one


def test_a_list_of_paths_is_each_path_expanded_in_order(tmp_path):
    media = _media(tmp_path)
    sources = [media / "clip.mp4", str(media / "frames"), str(media / "more"), "rtsp://cam.local/live"]
    items, several = expand_inputs(sources)
    assert several and [item.kind for item in items] == ["file", "clip", "file", "url"]
    assert _names(items) == [
        str(media / "clip.mp4"),
        str(media / "frames"),
        str(media / "more" / "c.jpg"),
    ] + ["rtsp://cam.local/live"]
    assert expand_inputs(tuple(sources)) == (items, True)
    assert expand_inputs([media / "a.jpg"]) == ([Input("file", media / "a.jpg")], True)


def test_single_inputs_and_frames_in_memory(tmp_path):
    image = bad_media.good_jpeg(tmp_path)
    assert expand_inputs(image) == ([Input("file", image)], False)
    assert expand_inputs("rtsp://cam.local/live?user=a") == (
        [Input("url", "rtsp://cam.local/live?user=a")],
        False,
    )
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    for source in (frames, frames[0], [frames[0], frames[1]], [Image.fromarray(frames[0])], []):
        (item,), several = expand_inputs(source)
        assert item.kind == "frames" and item.source is source and not several
    assert expand_inputs(frames).items[0].name == "<array>"
    with pytest.raises(ValueError, match="mixing paths and frames"):
        expand_inputs([image, frames[0]])
    with pytest.raises(ValueError, match="cannot predict a int"):
        expand_inputs(42)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "gone.mp4", "no such file or folder"),
        (lambda root: root / "nothing-*.mp4", "no file or folder matches"),
        (lambda root: (root / "notes.txt").write_text("x") and root / "*.txt", "hold no image or video"),
        (lambda root: (root / "empty").mkdir() or root / "empty", "folder holds no image or video"),
    ],
    ids=["missing", "unmatched-glob", "glob-without-media", "empty-folder"],
)
def test_an_input_giving_nothing_is_one_line_naming_it(tmp_path, make, message):
    source = make(tmp_path)
    with pytest.raises(VemdError, match=message) as info:
        expand_inputs(source)
    assert str(source) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(VemdError, match=message):  # inside a list too
        expand_inputs([bad_media.good_jpeg(tmp_path / "ok"), source])
    errors = []
    items, _ = expand_inputs([source, tmp_path / "ok" / "good.jpg"], on_error=errors.append)
    assert _names(items) == [str(tmp_path / "ok" / "good.jpg")] and [str(e) for e in errors] == [
        str(info.value)
    ]


# ---------------------------------------------------------------- the API and the CLI agree


@pytest.mark.parametrize("case", ["folder", "glob", "list", "frame-folder", "file"], ids=lambda case: case)
def test_the_cli_and_the_api_predict_the_same_items(model_file, tmp_path, capsys, case):
    media = _media(tmp_path)
    args = {
        "folder": [str(media)],
        "glob": [str(media / "*.*")],
        "list": [str(media / "clip.mp4"), str(media / "frames"), str(media / "a.jpg")],
        "frame-folder": [str(media / "frames")],
        "file": [str(media / "a.jpg")],
    }[case]
    expected = _names(expand_inputs(args).items)
    assert _cli_inputs(args, model_file, capsys) == expected
    source = args if case == "list" else args[0]
    result = vemd.load(model_file).predict(source)
    if case in ("frame-folder", "file"):  # one input: one result
        assert isinstance(result, GroupEmotion) and [result.input] == expected
    else:  # a collection: a list in the expansion's order
        assert isinstance(result, list) and [r.input for r in result] == expected


def test_predict_a_list_of_paths_predicts_each(model_file, tmp_path):
    predictor = vemd.load(model_file, window=0.5)
    image, video = bad_media.good_jpeg(tmp_path), bad_media.video(tmp_path, 10, fps=10)
    seen = []
    results = predictor.predict([image, str(video)], on_window=seen.append)
    assert [r.input for r in results] == [str(image), str(video)]
    for result, alone in zip(results, (predictor.predict(image), predictor.predict(video))):
        assert result.to_dict() == alone.to_dict()
    assert len(seen) == 1 + 2  # the image's window, then the video's two


def test_a_folder_of_photos_is_each_photo_in_the_api_as_in_the_cli(model_file, tmp_path, capsys):
    photos = tmp_path / "photos"
    paths = [bad_media.good_jpeg(photos, "b.jpg"), bad_media.good_png(photos, "a.png")]
    results = vemd.load(model_file).predict(photos)
    assert [r.input for r in results] == [str(paths[1]), str(paths[0])]
    assert _cli_inputs([str(photos)], model_file, capsys) == [str(paths[1]), str(paths[0])]


def test_a_frame_folder_is_one_clip_in_the_cli_as_in_the_api(model_file, tmp_path, capsys):
    frames = write_frames(tmp_path / "clip", 5, size=32)
    result = vemd.load(model_file).predict(frames)
    assert isinstance(result, GroupEmotion) and result.input == str(frames) and len(result.windows) == 1
    assert _cli_inputs([str(frames)], model_file, capsys) == [str(frames)]


@pytest.mark.parametrize("source", ["gone.mp4", "nothing-*.mp4"])
def test_a_missing_path_or_an_unmatched_glob_is_the_same_one_line_in_both(
    model_file, tmp_path, capsys, source
):
    path = str(tmp_path / source)
    with pytest.raises(VemdError) as info:
        vemd.load(model_file).predict(path)
    assert path in str(info.value)
    assert main(["predict", path, "--ckpt", str(model_file)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [f"vemd predict: error: {info.value}"] and captured.out == ""


def test_a_missing_input_among_good_ones_is_one_line_and_the_others_run(model_file, tmp_path, capsys):
    image, gone = bad_media.good_jpeg(tmp_path), tmp_path / "gone.jpg"
    assert main(["predict", str(gone), str(image), "--ckpt", str(model_file), "--json"]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and str(gone) in err[0], err
    assert [r["input"] for r in printed_results(captured.out)] == [str(image)]


@pytest.mark.skipif(not (FIXTURES / "images").is_dir(), reason=f"real media not found in {FIXTURES}")
def test_a_folder_of_real_photos_means_the_same_in_both(model_file, capsys):
    folder = FIXTURES / "images"
    expected = [str(p) for p in sorted(folder.glob("*.jpg"))]
    assert len(expected) >= 2
    assert _names(expand_inputs(str(folder / "*.jpg")).items) == expected
    results = vemd.load(model_file).predict(folder)
    assert [r.input for r in results] == expected
    assert _cli_inputs([str(folder)], model_file, capsys) == expected
