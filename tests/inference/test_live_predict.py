"""Live sources (a loopback MPEG-TS stream started by the test) and the terminal progress bar:
one group-level line per window as it is predicted, Ctrl-C ends with a summary."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.data import bad_media
from tests.data.live_server import serve_stream
from tests.inference.helpers import printed

from vemd.cli import main
from vemd.data.live import iter_live_frames
from vemd.inference.predictor import GroupEmotionPredictor

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}


def test_a_stream_is_predicted_window_by_window_as_its_frames_arrive(model_file):
    predictor = GroupEmotionPredictor(model_file, window=1.0)
    with serve_stream(seconds=3, fps=10, realtime=False) as url:
        frames = [frame.image for frame in iter_live_frames(url)]
    arrived = []
    with serve_stream(seconds=3, fps=10, realtime=True) as url:
        began = time.monotonic()
        live = [(w, time.monotonic()) for w in predictor.stream(url, on_window=lambda w: arrived.append(w))]
    windows = [w for w, _ in live]
    assert [v for w in windows for v in (w.start, w.end)] == pytest.approx([0, 1, 1, 2, 2, 2.9])
    assert arrived == windows
    # paced by the stream, not read at once: window 1 ends 2 s into it and cannot come sooner
    # (measured from the start, not between windows: a slow first forward pass under load
    # would shorten the gap between the first two)
    assert live[1][1] - began > 1.5
    # the same frames from memory (the decoder is deterministic) give the same predictions
    reference = predictor.predict(np.stack(frames), fps=10)
    for window, expected in zip(windows, reference.windows):
        np.testing.assert_allclose(list(window.probs.values()), list(expected.probs.values()), atol=1e-5)


@pytest.mark.parametrize(
    ("window", "stride", "spans"), [(1.0, 0.5, [0, 1, 0.5, 1.5, 1, 1.9]), (0.5, 1.0, [0, 0.5, 1, 1.5])]
)
def test_windows_of_a_stream_follow_the_stride(model_file, window, stride, spans):
    predictor = GroupEmotionPredictor(model_file, window=window, stride=stride)
    with serve_stream(seconds=2, fps=10, realtime=False) as url:
        windows = list(predictor.stream(url))
    assert [v for w in windows for v in (w.start, w.end)] == pytest.approx(spans)


def test_vemd_predict_follows_a_stream_url_to_its_end(model_file, capsys):
    with serve_stream(seconds=2, fps=10, realtime=False) as url:
        code = main(["predict", url, "--ckpt", str(model_file), "--window", "1", "--json"])
    assert code == 0
    windows, results = printed(capsys.readouterr().out)
    assert [w["window"]["start"] for w in windows] == [0, 1] and len(results) == 1
    assert results[0]["windows"] == [w["window"] for w in windows]
    assert results[0]["input"] == windows[0]["input"] == url


def test_ctrl_c_ends_a_live_source_with_a_summary(model_file, capsys, monkeypatch):
    from vemd.commands import predict as command

    printed_windows = []
    window = command._Printer.window

    def counting(self, source, prediction):
        window(self, source, prediction)
        printed_windows.append(prediction)
        if len(printed_windows) == 3:
            # Ctrl-C while the stream runs, raised in the main thread where Python delivers
            # SIGINT. A signal from a timer thread (a real one, or _thread.interrupt_main) could
            # land after the command returned and end the test runner's worker instead.
            raise KeyboardInterrupt

    monkeypatch.setattr(command._Printer, "window", counting)
    with serve_stream(seconds=None, fps=10, realtime=True) as url:
        code = main(["predict", url, "--ckpt", str(model_file), "--window", "0.5", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    windows, results = printed(captured.out)
    assert len(results) == 1 and len(windows) == 3
    assert results[0]["windows"] == [w["window"] for w in windows]  # the summary covers what was printed
    assert f"stopped after {len(windows)} window(s)" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--camera", "97"], "camera 97 (/dev/video97)"),
        (["http://127.0.0.1:9/none.ts", "--smooth", "1"], "--smooth needs a whole timeline"),
        ([], "nothing to predict"),
    ],
)
def test_live_sources_that_cannot_run_are_one_line(model_file, capsys, args, message):
    if args[:1] == ["--camera"] and not sys.platform.startswith("linux"):
        pytest.skip("camera numbering of this test is Linux's")
    assert main(["predict", *args, "--ckpt", str(model_file)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_refused_stream_url_is_one_line(model_file, capsys):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["predict", f"http://127.0.0.1:{port}/live.ts", "--ckpt", str(model_file)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"127.0.0.1:{port}" in err[0] and "cannot open" in err[0], err


def test_a_long_video_shows_a_progress_bar_on_a_terminal_only(model_file, tmp_path, capsys, monkeypatch):
    video = bad_media.video(tmp_path, 60, fps=10)
    command = ["predict", str(video), "--ckpt", str(model_file), "--window", "0.5"]
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "windows/s" not in captured.err  # not a terminal: no bar
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "/12" in captured.err and "windows/s" in captured.err, captured.err
    assert captured.out.count("\n") == 1 and "12 window(s)" in captured.out  # stdout: one line per input
    assert main([*command, "--no-progress"]) == 0
    assert "windows/s" not in capsys.readouterr().err
