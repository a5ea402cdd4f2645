"""What vemd.data.media makes of inputs that are not what they seem: non-media, pipes, symlink
loops, odd file names, rotated and huge videos, corrupt JPEG scans, variable frame rates and
videos cut without a frame count in their header."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import tracemalloc

import numpy as np
import pytest
from tests.data import bad_media

from vemd.data import media
from vemd.data.content import NotMedia
from vemd.data.media import (
    TruncatedVideo,
    decodable_frames,
    frame_times,
    iter_video_frames,
    probe,
    read_frames,
    read_image,
)
from vemd.errors import DataError


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------- what the bytes are


@pytest.mark.parametrize("name", ["notes.txt", "notes.mp4", "notes"])
def test_a_text_file_is_not_media_whatever_its_name(tmp_path, name):
    path = bad_media.text_file(tmp_path, name)
    for read in (probe, lambda p: probe(p, verify=True), lambda p: read_frames(p, 2)):
        with pytest.raises(NotMedia) as err:
            read(path)
        assert one_line(err).startswith(f"{path}: not an image") and "or a video" in str(err.value)


def test_a_jpeg_without_an_image_suffix_reads_as_an_image(tmp_path):
    path = bad_media.good_jpeg(tmp_path).rename(tmp_path / "photo.mp4")
    assert probe(path).kind == "image"
    frames, indices = read_frames(path, 2)
    assert indices == [0, 0] and frames[0].shape == (bad_media.HEIGHT, bad_media.WIDTH, 3)


def test_a_demuxer_outside_the_allow_list_is_refused(tmp_path, monkeypatch):
    video = bad_media.video(tmp_path, 5)
    monkeypatch.setattr("vemd.data.content.DEMUXERS", frozenset({"matroska"}))
    with pytest.raises(NotMedia, match="FFmpeg reads it as QuickTime / MOV"):
        probe(video)


# ---------------------------------------------------------------- what the file system says


def _unblock_after(fifo, seconds: float) -> threading.Timer:
    """Opens and closes ``fifo`` for writing after ``seconds`` so that a reader blocked on it (a
    regression) gets an end of file and the test fails instead of hanging."""

    def open_and_close() -> None:
        with contextlib.suppress(OSError):  # ENXIO: nobody is reading it
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(seconds, open_and_close)
    timer.daemon = True
    timer.start()
    return timer


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["clip.mp4", "photo.jpg"])
def test_a_named_pipe_is_refused_before_it_is_opened(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    timer = _unblock_after(fifo, 10)
    began = time.monotonic()
    for read in (probe, lambda p: read_frames(p, 2), read_image, frame_times):
        with pytest.raises(DataError) as err:
            read(fifo)
        assert one_line(err).startswith(f"{fifo}: a named pipe, not a file"), err.value
    timer.cancel()
    assert time.monotonic() - began < 5


def test_a_symlink_loop_is_named_as_one(tmp_path):
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    for read in (probe, read_image):
        with pytest.raises(DataError) as err:
            read(loop)
        assert one_line(err) == f"{loop}: symlink loop (a link that points back to itself)"


def test_a_file_name_with_a_line_break_is_quoted_so_the_message_stays_one_line(tmp_path):
    path = bad_media.text_file(tmp_path, "two\nlines.txt")
    with pytest.raises(DataError) as err:
        probe(path)
    assert one_line(err).startswith(repr(str(path)) + ": not an image")


# ---------------------------------------------------------------- images


def test_an_image_header_is_checked_before_the_file_is_read(tmp_path):
    big = tmp_path / "big.jpg"
    with big.open("wb") as file:
        file.write(b"not an image at all\n")
        file.truncate(200 << 20)  # 200 MB, sparse
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="not an image"):
            read_image(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20, f"{peak / 2**20:.0f} MB allocated to refuse a header"


def test_a_corrupt_jpeg_scan_is_one_notice_and_nothing_on_stderr(tmp_path, capfd):
    path = bad_media.corrupt_jpeg(tmp_path)
    notices: list[str] = []
    capfd.readouterr()
    image = read_image(path, notify=notices.append)
    assert image.shape == (240, 320, 3)
    assert capfd.readouterr().err == ""  # libjpeg's own line is not shown
    assert len(notices) == 1 and notices[0].startswith(f"{path}: damaged JPEG data (Corrupt JPEG data")


def test_a_corrupt_jpeg_scan_is_an_error_where_data_is_verified(tmp_path, capfd):
    path = bad_media.corrupt_jpeg(tmp_path)
    with pytest.raises(DataError) as err:
        probe(path, verify=True)
    assert one_line(err).startswith(f"{path}: damaged JPEG data") and "read as decoded" not in str(err.value)
    assert capfd.readouterr().err == ""


def test_a_good_image_reads_without_notice(tmp_path, capfd):
    notices: list[str] = []
    read_image(bad_media.good_jpeg(tmp_path), notify=notices.append)
    read_image(bad_media.good_png(tmp_path), notify=notices.append)
    assert notices == [] and capfd.readouterr().err == ""


# ---------------------------------------------------------------- videos: pixels and rotation


def test_video_frames_over_the_pixel_limit_are_refused_by_the_header(tmp_path, monkeypatch):
    video = bad_media.video(tmp_path, 5)
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 64 * 48 - 1)
    for read in (probe, lambda p: read_frames(p, 2), lambda p: list(iter_video_frames(p, [0]))):
        with pytest.raises(DataError) as err:
            read(video)
        assert one_line(err) == (
            f"{video}: video frames of 64×48 pixels exceed vemd's limit of {64 * 48 - 1} pixels"
        )


@pytest.mark.parametrize(("degrees", "corner"), [(-90, (0, -1)), (90, (-1, 0)), (180, (-1, -1))])
def test_a_rotated_video_reads_as_it_is_displayed(tmp_path, degrees, corner):
    path = bad_media.rotated_mp4(tmp_path, degrees)
    (frame,) = read_frames(path, 1)[0]
    portrait = degrees % 180 != 0
    assert frame.shape == ((64, 48, 3) if portrait else (48, 64, 3))
    y, x = corner  # where the stored top-left corner is shown
    assert frame[y, x].mean() > 200 and frame[frame.shape[0] // 2, frame.shape[1] // 2].mean() < 50


# ---------------------------------------------------------------- videos: time


def test_frame_times_come_from_presentation_timestamps(tmp_path):
    times = bad_media.vfr_times()
    for name, format in (("vfr.mkv", "matroska"), ("vfr.mp4", "mp4")):
        path = bad_media.timed_video(tmp_path, times, name, format=format)
        info = probe(path)
        shown = info.times or frame_times(path)
        assert info.num_frames == len(shown.starts) == 80, name
        np.testing.assert_allclose(shown.starts, times, atol=1e-3, err_msg=name)
        assert shown.end == pytest.approx(16.94, abs=0.01) and info.duration == pytest.approx(16.94, abs=0.01)


def test_a_webm_declaring_1000_fps_lasts_as_long_as_its_timestamps_say(tmp_path):
    path = bad_media.timed_video(
        tmp_path, [float(k) for k in range(60)], "ms.webm", format="webm", codec="libvpx", rate=1000
    )
    info = probe(path)
    assert info.fps == 1000 and info.num_frames == 60  # what the codec declares
    assert info.duration == pytest.approx(59, abs=0.01)
    assert (info.times or frame_times(path)).end == pytest.approx(59, abs=0.01)


@pytest.mark.parametrize(("maker", "decoded", "end"), [("cut_mkv", 24, 2.4), ("corrupt_mkv", 31, 3.0)])
def test_a_video_without_a_frame_count_that_ends_early_is_truncated(tmp_path, maker, decoded, end):
    path = getattr(bad_media, maker)(tmp_path)
    info = probe(path)  # reads what decodes
    assert info.num_frames == decoded and info.duration == pytest.approx(6.0)
    assert info.times.end == pytest.approx(end, abs=0.05)
    with pytest.raises(TruncatedVideo) as err:
        probe(path, verify=True)
    assert one_line(err) == (
        f"{path}: truncated video: header says 6.0 s, {decoded} frames decode, ending at {end:.1f} s"
    )
    assert decodable_frames(path) == decoded


def test_a_whole_mkv_is_not_truncated(tmp_path):
    path = bad_media.timed_video(tmp_path, [k / 10 for k in range(60)], "whole.mkv")
    assert probe(path, verify=True).num_frames == 60
