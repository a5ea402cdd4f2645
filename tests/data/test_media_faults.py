"""Broken and unusual media through vemd.data.media, ``vemd data check`` and the clip dataset."""

from __future__ import annotations

import json
import pickle

import bad_media
import numpy as np
import pytest
from layouts import make_folder, make_gaf3, make_synth, write_video

from vemd.cli import main
from vemd.data import media
from vemd.data.dataset import ClipDataset, Skipped
from vemd.data.manifest import ClipRecord
from vemd.data.media import (
    TruncatedVideo,
    decodable_frames,
    probe,
    read_frames,
    read_image,
    read_video_frames,
)
from vemd.errors import DataError

BROKEN_IMAGES = {
    "zero_byte_jpg": "empty file",
    "truncated_jpeg": "truncated image (the JPEG data ends early)",
    "truncated_jpeg_with_thumbnail": "truncated image (the JPEG data ends early)",
    "truncated_png": "truncated image (the PNG data ends early)",
    "text_named_jpg": "not an image (no known image format)",
}


def one_line(err: pytest.ExceptionInfo, path) -> str:
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


@pytest.mark.parametrize("maker", sorted(BROKEN_IMAGES))
def test_broken_image_is_refused_by_decoding_not_by_suffix(tmp_path, maker):
    path = getattr(bad_media, maker)(tmp_path)
    for read in (read_image, lambda p: probe(p, verify=True), lambda p: read_frames(p, 2)):
        with pytest.raises(DataError) as err:
            read(path)
        assert BROKEN_IMAGES[maker] in one_line(err, path)


@pytest.mark.parametrize("maker", ["zero_byte_jpg", "text_named_jpg"])
def test_plain_probe_reads_the_image_header(tmp_path, maker):
    path = getattr(bad_media, maker)(tmp_path)
    with pytest.raises(DataError):
        probe(path)


def test_unusual_images_read_as_rgb_uint8(tmp_path):
    reference = bad_media._pattern().astype(int)  # (H, W, 3)
    for maker, tolerance in (("png16", 0), ("rgba_png", 0), ("cmyk_jpeg", 4)):
        image = read_image(getattr(bad_media, maker)(tmp_path))
        assert image.shape == reference.shape and image.dtype == np.uint8, maker
        assert np.abs(image.astype(int) - reference).mean() <= tolerance, maker
    gray = read_image(bad_media.gray_jpeg(tmp_path)).astype(int)
    assert gray.shape == reference.shape and (gray == gray[..., :1]).all()
    assert np.abs(gray[..., 0] - reference[..., 0]).mean() < 2


def test_16_bit_gray_is_scaled_to_8_bits(tmp_path):
    import cv2

    values = np.linspace(0, 65535, 48 * 64).astype(np.uint16).reshape(48, 64)
    cv2.imwrite(str(tmp_path / "g16.png"), values)
    image = read_image(tmp_path / "g16.png")
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert (image[0, 0, 0], image[-1, -1, 0]) == (0, 255) and (image[..., 0] == np.rint(values / 257)).all()


def test_huge_image_reads_and_a_larger_one_is_refused_in_one_line(tmp_path, monkeypatch):
    path = bad_media.huge_image(tmp_path)
    assert read_image(path).shape == (8000, 8000, 3)
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 7999 * 7999)
    with pytest.raises(DataError) as err:
        read_image(path)
    assert "exceeds vemd's limit" in one_line(err, path)


def test_cut_mp4_with_index_first_is_truncated_with_both_counts(tmp_path):
    path = bad_media.cut_mp4(tmp_path, index_first=True)
    assert probe(path).num_frames == 40  # the header's word
    with pytest.raises(TruncatedVideo) as err:
        probe(path, verify=True)
    assert (err.value.header_frames, err.value.decoded_frames) == (40, 12)
    assert "truncated video: header says 40 frames, 12 decode" in one_line(err, path)
    assert decodable_frames(path) == 12
    with pytest.raises(TruncatedVideo) as err:
        read_video_frames(path, [0, 20, 39])  # never an earlier frame in place of a missing one
    assert (err.value.header_frames, err.value.decoded_frames) == (40, 12)
    assert len(read_video_frames(path, [0, 11])) == 2
    copy = pickle.loads(pickle.dumps(err.value))
    assert (str(copy), copy.decoded_frames) == (str(err.value), 12)


def test_cut_h264_whose_decoder_fails_on_the_cut_packet_is_truncated(tmp_path):
    path = bad_media.cut_mp4(tmp_path, index_first=True, codec="libx264")
    with pytest.raises(TruncatedVideo) as err:
        read_video_frames(path, [39])
    assert (err.value.header_frames, err.value.decoded_frames) == (40, 19)
    assert decodable_frames(path) == 19


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_frames_of_a_cut_mp4_are_those_of_the_whole_file_never_a_partial_packet(tmp_path, codec):
    whole = bad_media.video(tmp_path, 40, "whole.mp4", faststart=True, noise=True, codec=codec)
    # cut from the very file compared with (an encoder may not give the same bytes twice)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    count = decodable_frames(cut)
    assert 0 < count < 40
    for fraction in (0.9, 0.99):  # a cut inside the last packets too
        path = tmp_path / f"cut{fraction}.mp4"
        path.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * fraction)])
        assert decodable_frames(path) < 40
    indices = list(range(count))
    for a, b in zip(read_video_frames(cut, indices), read_video_frames(whole, indices)):
        assert np.array_equal(a, b)


def test_cut_mp4_with_index_last_is_unreadable_in_one_line(tmp_path):
    path = bad_media.cut_mp4(tmp_path, index_first=False)
    with pytest.raises(DataError) as err:
        probe(path)
    assert "unreadable video" in one_line(err, path) and not isinstance(err.value, TruncatedVideo)


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_whole_videos_verify_with_every_frame(tmp_path, codec):
    path = bad_media.video(tmp_path, 40, noise=codec == "libx264", codec=codec, faststart=True)
    assert probe(path, verify=True).num_frames == 40 and decodable_frames(path) == 40
    if codec == "mpeg4":
        assert read_video_frames(path, [39])[0].mean() == pytest.approx(4 * 39, abs=3)


def test_zero_and_one_frame_videos(tmp_path):
    empty = bad_media.video(tmp_path, 0)
    with pytest.raises(DataError) as err:
        probe(empty)
    one_line(err, empty)
    single = bad_media.video(tmp_path, 1)
    assert probe(single, verify=True).num_frames == 1
    frames, indices = read_frames(single, 3)
    assert indices == [0, 0, 0] and len(frames) == 3 and frames[0].shape == (48, 64, 3)


def test_dataset_fails_or_skips_a_truncated_video_item(tmp_path):
    bad_media.cut_mp4(tmp_path, index_first=True, name="cut.mp4")
    bad_media.video(tmp_path, 40, name="whole.mp4")
    records = [ClipRecord("cut", "train", "a", "cut.mp4"), ClipRecord("whole", "train", "a", "whole.mp4")]
    strict = ClipDataset(records, tmp_path, ["a"], frames=4, image_size=32)
    with pytest.raises(TruncatedVideo):
        strict[0]
    assert strict[1]["frames"].shape == (4, 3, 32, 32)
    lenient = ClipDataset(records, tmp_path, ["a"], frames=4, image_size=32, skip_bad=True)
    assert isinstance(lenient[0], Skipped) and "truncated video" in lenient[0].message


def check(args, capsys) -> tuple[int, list[str]]:
    code = main(["data", "check", *args])
    out = capsys.readouterr().out
    return code, [line for line in out.splitlines() if line.startswith("[")]


@pytest.mark.parametrize("layout", ["gaf3", "folder"])
def test_data_check_lists_each_broken_image(tmp_path, capsys, layout):
    root = {"gaf3": make_gaf3, "folder": make_folder}[layout](tmp_path / "copy")
    folder = root / "train" / ("Positive" if layout == "gaf3" else "happy")
    broken = [getattr(bad_media, maker)(folder) for maker in BROKEN_IMAGES]
    bad_media.cmyk_jpeg(folder), bad_media.png16(folder), bad_media.gray_jpeg(folder)
    code, lines = check([layout, str(root), "--split", "train"], capsys)
    assert code == 1
    expected = [f"[unreadable] train: {path}: {BROKEN_IMAGES[m]}" for path, m in zip(broken, BROKEN_IMAGES)]
    assert sorted(lines) == sorted(expected)


def test_data_check_reports_truncated_and_unreadable_videos_and_frame_folders(tmp_path, capsys):
    root = make_synth(tmp_path / "copy")
    bad_media.cut_mp4(root / "items", index_first=True, name="s2.mp4")  # replaces the whole clip
    bad_media.truncated_jpeg(root / "items" / "s1", name="00003.jpg")
    code, lines = check(["synth", str(root), "--split", "train", "--set", "data.frames=2"], capsys)
    assert code == 1
    assert sorted(lines) == [
        f"[truncated] train: {root / 'items' / 's2.mp4'}: truncated video: header says 40 frames, 12 decode",
        f"[unreadable] train: {root / 'items' / 's1'}: frame 00003.jpg: truncated image (the JPEG data ends early)",
    ]
    assert main(["data", "check", "synth", str(root), "--split", "train", "--json"]) == 1
    kinds = [p["kind"] for p in json.loads(capsys.readouterr().out)["problems"]]
    assert sorted(kinds) == ["truncated", "unreadable"]


def test_data_check_of_a_whole_copy_passes(tmp_path, capsys):
    root = make_synth(tmp_path / "copy")
    write_video(root / "items" / "s2.mp4", 8)
    code, lines = check(["synth", str(root), "--set", "data.frames=2"], capsys)
    assert (code, lines) == (0, [])
