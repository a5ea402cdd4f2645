"""Live sources (vemd.data.live) read from a loopback MPEG-TS server (tests/data/live_server.py)."""

from __future__ import annotations

import io
import socket
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from tests.data.live_server import BAR, serve_bytes, serve_stream, streaming_clients

from vemd.data import live
from vemd.data.live import LiveFrame, camera_source, describe_source, is_stream_url, iter_live_frames
from vemd.errors import DataError, VemdError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rtsp://192.168.1.20:554/stream1", True),
        ("RTSP://cam.local/live", True),
        ("rtsps://cam.local/live", True),
        ("rtmp://example.org/app/key", True),
        ("rtmps://example.org/app/key", True),
        ("http://127.0.0.1:8080/video.ts", True),
        ("https://example.org/live.m3u8", True),
        ("udp://@239.0.0.1:1234", True),
        ("tcp://127.0.0.1:9000", True),
        ("srt://127.0.0.1:9000?mode=caller", True),
        ("rtp://127.0.0.1:5004", True),
        ("clip.mp4", False),
        ("C:\\x.mp4", False),
        ("C:/videos/x.mp4", False),
        ("/data/videos/a:b.mp4", False),
        ("file:///data/clip.mp4", False),
        ("ftp://example.org/clip.mp4", False),
        ("rtsp:/missing-slash", False),
        ("", False),
    ],
)
def test_is_stream_url(text, expected):
    assert is_stream_url(text) is expected


def _wait_until(condition, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _refused_url(path: str = "/live.ts", userinfo: str = "") -> str:
    """A loopback URL whose port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://{userinfo}127.0.0.1:{port}{path}"


def _one_line_error(source: str, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        next(iter_live_frames(source, **kwargs))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_frames_arrive_as_sent_with_stream_times():
    notices = []
    with serve_stream(seconds=2, fps=10, size=(160, 120)) as url:
        start = time.monotonic()
        frames, arrivals = [], []
        for frame in iter_live_frames(url, notify=notices.append):
            frames.append(frame)
            arrivals.append(time.monotonic() - start)
    assert 18 <= len(frames) <= 22
    assert all(isinstance(frame, LiveFrame) for frame in frames)
    times = np.array([frame.time for frame in frames])
    assert times[0] == 0.0 and np.all(np.diff(times) > 0)
    assert times[-1] == pytest.approx(1.9, abs=0.25)
    assert arrivals[0] < 1.0  # handed out while the stream runs, not at its end
    for number, frame in enumerate(frames[:5]):
        assert frame.image.shape == (120, 160, 3) and frame.image.dtype == np.uint8
        x = 4 * number  # the bar's left edge (tests/data/live_server.bar_frame)
        bar = frame.image[:, x + 3 : x + 13].reshape(-1, 3).mean(0)
        assert np.abs(bar - BAR).max() < 30  # RGB order, and the frame is the one sent
    assert notices == []  # a clean end is no notice


def test_transform_shrinks_each_frame():
    seen = []

    def shrink(image: np.ndarray) -> np.ndarray:
        seen.append(image.shape)
        return cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA)

    with serve_stream(seconds=1, fps=10, realtime=False) as url:
        frames = list(iter_live_frames(url, transform=shrink))
    assert len(frames) == 10
    assert {frame.image.shape for frame in frames} == {(32, 32, 3)}
    assert set(seen) == {(120, 160, 3)}


def test_closing_the_generator_leaves_an_endless_stream_promptly():
    with serve_stream(seconds=None, fps=10) as url:
        frames = iter_live_frames(url)
        taken = [next(frames) for _ in range(5)]
        assert streaming_clients() == 1
        start = time.monotonic()
        frames.close()
        assert time.monotonic() - start < 1.0
        assert _wait_until(lambda: streaming_clients() == 0)  # the server saw the client leave
    assert [frame.time for frame in taken] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4], abs=1e-6)


def test_an_interrupt_in_the_consumer_loop_closes_the_source():
    with serve_stream(seconds=None, fps=10) as url:
        with pytest.raises(KeyboardInterrupt):
            for number, _ in enumerate(iter_live_frames(url)):
                if number == 2:
                    raise KeyboardInterrupt
        assert _wait_until(lambda: streaming_clients() == 0)


def test_server_exit_with_a_client_connected_is_clean_and_ends_the_stream():
    with serve_stream(seconds=None, fps=10) as url:
        frames = iter_live_frames(url, read_timeout=2.0)
        next(frames)
        port = int(url.split(":")[2].split("/")[0])
        start = time.monotonic()
    assert time.monotonic() - start < 2.0
    assert streaming_clients() == 0
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("live-server")]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    start = time.monotonic()
    rest = list(frames)  # what was sent before the server stopped, then the end
    assert time.monotonic() - start < 3.0 and len(rest) < 20


def test_refused_port_is_one_line_naming_the_url():
    url = _refused_url()
    start = time.monotonic()
    message = _one_line_error(url, open_timeout=1.0)
    assert time.monotonic() - start < 2.0
    assert message == f"{url}: cannot open live source (Connection refused)"


def test_messages_hide_a_url_password():
    url = _refused_url(userinfo="viewer:s3cret@")
    message = _one_line_error(url, open_timeout=1.0)
    assert "s3cret" not in message and "viewer:***@127.0.0.1" in message
    assert describe_source("rtsp://admin:pw@cam.local:554/live") == "rtsp://admin:***@cam.local:554/live"
    assert describe_source("rtsp://cam.local/live") == "rtsp://cam.local/live"
    assert describe_source("rtsp://[bad-address/live") == "rtsp://[bad-address/live"


def test_silent_server_times_out_on_open():
    with socket.socket() as listener:  # accepts connections (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/live.ts"
        start = time.monotonic()
        message = _one_line_error(url, open_timeout=0.5)
    assert time.monotonic() - start < 2.0
    assert message == f"{url}: cannot open live source (timed out: no data for 0.5 s)"


def test_text_instead_of_video_is_one_line():
    with serve_bytes(b"this is a web page, not a video\n" * 64) as url:
        message = _one_line_error(url, open_timeout=2.0)
    assert message.startswith(f"{url}: cannot open live source (")
    assert "Invalid data" in message


def _audio_only_ts() -> bytes:
    """Half a second of silent MP2 audio in MPEG-TS: a stream without video."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts") as ts:
        stream = ts.add_stream("mp2", rate=48000)
        for _ in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
            frame.sample_rate = 48000
            ts.mux(stream.encode(frame))
        ts.mux(stream.encode(None))
    return buffer.getvalue()


def test_stream_without_video_is_one_line():
    with serve_bytes(_audio_only_ts(), "video/mp2t") as url:
        message = _one_line_error(url, open_timeout=2.0)
    assert message == f"{url}: live source has no video stream"


@pytest.mark.parametrize("end, reason", [("reset", "Connection reset by peer"), ("stall", "timed out")])
def test_dropped_stream_ends_the_iteration_with_one_notice(end, reason):
    notices = []
    with serve_stream(seconds=1, fps=10, end=end) as url:
        start = time.monotonic()
        frames = list(iter_live_frames(url, read_timeout=0.5, notify=notices.append))
        assert time.monotonic() - start < 3.0
    # every frame sent, those still inside the decoder included (a reset may race the last one)
    assert len(frames) == 10 or (end == "reset" and len(frames) == 9)
    assert [frame.time for frame in frames] == pytest.approx(np.arange(len(frames)) / 10, abs=1e-6)
    assert len(notices) == 1 and "\n" not in notices[0]
    assert notices[0].startswith(f"{url}: stream ended early: ") and reason in notices[0]


def test_rtsp_defaults_to_tcp_and_keeps_a_chosen_transport(monkeypatch):
    calls = []

    def fake_open(source, **kwargs):
        calls.append(kwargs)
        raise av.error.ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(av, "open", fake_open)
    chosen = {"rtsp_transport": "udp"}
    for source, options in [("rtsp://cam.local/live", None), ("rtsp://cam.local/live", chosen)]:
        _one_line_error(source, options=options, open_timeout=3.0, read_timeout=4.0)
    _one_line_error("http://cam.local/live.ts")
    assert calls[0]["options"] == {"rtsp_transport": "tcp"} and calls[0]["timeout"] == (3.0, 4.0)
    assert calls[1]["options"] == {"rtsp_transport": "udp"} and chosen == {"rtsp_transport": "udp"}
    assert calls[2]["options"] == {}


def test_camera_source_per_platform(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert camera_source(0) == ("/dev/video0", "v4l2", {})
    assert describe_source("/dev/video0", "v4l2") == "camera 0 (/dev/video0)"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert camera_source(1)[:2] == ("1", "avfoundation")
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(VemdError, match="dshow") as caught:
        camera_source(0)
    assert "\n" not in str(caught.value)
    with pytest.raises(VemdError, match="0 or more"):
        live.camera_source(-1)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 cameras are Linux devices")
def test_missing_camera_is_one_line():
    file, format, options = camera_source(97)
    assert not Path(file).exists()
    message = _one_line_error(file, format=format, options=options, open_timeout=2.0)
    assert message.startswith("camera 97 (/dev/video97): cannot open live source (")
    assert "No such file or directory" in message


def test_live_frames_are_turned_as_their_display_matrix_says(tmp_path):
    from tests.data import bad_media

    source = str(bad_media.rotated_mp4(tmp_path, -90))  # a phone held upright
    frames = list(iter_live_frames(source))
    assert frames and all(f.image.shape == (64, 48, 3) for f in frames)
    assert frames[0].image[0, -1].mean() > 200  # the stored top-left corner, shown top-right


def test_live_frames_over_the_pixel_limit_are_one_line(tmp_path, monkeypatch):
    from tests.data import bad_media

    from vemd.data import media

    source = str(bad_media.video(tmp_path, 5))
    monkeypatch.setattr(media, "MAX_IMAGE_PIXELS", 64 * 48 - 1)
    with pytest.raises(DataError) as caught:
        next(iter_live_frames(source))
    assert str(caught.value) == f"{source}: video frames of 64×48 pixels exceed vemd's limit of 3071 pixels"
