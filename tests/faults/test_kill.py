"""``vemd synth`` and ``vemd annotate`` killed with SIGKILL at several points, then rerun with the
same options, end with the output of an uninterrupted run and leave no temporary file.

Each run is a subprocess; the test polls the output folder until the run has written some
items, kills it, and reruns it to completion.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.data import bad_media
from tests.faults.cases import environment, same_store, temporary_files

REPO = Path(__file__).resolve().parents[2]
SYNTH = ("--n-train", "30", "--n-val", "10", "--frames", "2", "--image-size", "64", "--seed", "3")
NUM_CLIPS = 40

# vemd annotate with the stub backend (no model weights), slowed down so a kill lands mid-run,
# and a shard flushed after every source, so a kill can cut a shard write.
ANNOTATE = """
import sys, time
from tests.annotate.helpers import FakeBackend
from vemd.annotate import runner
from vemd.annotate.backends import register_backend
from vemd.cli import main


class SlowBackend(FakeBackend):
    def detect_faces(self, image):
        time.sleep(0.03)
        return super().detect_faces(image)


register_backend("stub", SlowBackend)
runner.run_annotation.__kwdefaults__["flush_seconds"] = 0.0
sys.exit(main(sys.argv[1:]))
"""


def _synth(out: Path) -> list[str]:
    return [sys.executable, "-m", "vemd.cli", "synth", "--out", str(out), *SYNTH]


def _annotate(media: Path, out: Path) -> list[str]:
    argv = ["annotate", str(media), "--out", str(out), "--backend", "stub", "--frames", "3", "--no-progress"]
    return [sys.executable, "-c", ANNOTATE, *argv]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _kill_when(command: list[str], written, at_least: int) -> None:
    """Start ``command`` and SIGKILL it once ``written()`` reaches ``at_least``; the run must
    still be going then (else the kill point was never reached)."""
    process = subprocess.Popen(
        command, cwd=REPO, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 90
    try:
        while written() < at_least:
            if process.poll() is not None:
                pytest.fail(
                    f"the run ended (exit {process.returncode}) before the kill point ({at_least} items): "
                    f"{process.stderr.read().decode()[-1500:]}"
                )
            assert time.monotonic() < deadline, "the run wrote too little in 90 s"
            time.sleep(0.005)
        assert process.poll() is None, "the run ended before the kill point"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def _clip_folders(out: Path) -> int:
    frames = out / "frames"
    return sum(1 for p in frames.iterdir() if not p.name.startswith(".")) if frames.is_dir() else 0


def _same_synth(a: Path, b: Path) -> None:
    for name in ("manifest.csv", "classes.json", "dataset.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    same_store(a / "annotations", b / "annotations")
    files_a = sorted(p.relative_to(a) for p in (a / "frames").rglob("*.png"))
    files_b = sorted(p.relative_to(b) for p in (b / "frames").rglob("*.png"))
    assert files_a == files_b and len(files_a) == NUM_CLIPS * 2
    for relative in files_a:
        np.testing.assert_array_equal(
            cv2.imread(str(a / relative)), cv2.imread(str(b / relative)), str(relative)
        )


@pytest.fixture(scope="module")
def synth_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth-ref") / "D"
    _run(_synth(out))
    return out


@pytest.mark.parametrize("kill_at", [1, NUM_CLIPS // 2, NUM_CLIPS - 3])
def test_synth_killed_and_rerun_equals_an_uninterrupted_run(synth_reference, tmp_path, kill_at):
    out = tmp_path / "D"
    _kill_when(_synth(out), lambda: _clip_folders(out), kill_at)
    _run(_synth(out))
    _same_synth(synth_reference, out)
    assert not temporary_files(out)


def test_synth_killed_twice_and_rerun_equals_an_uninterrupted_run(synth_reference, tmp_path):
    out = tmp_path / "D"
    _kill_when(_synth(out), lambda: _clip_folders(out), 5)
    _kill_when(_synth(out), lambda: _clip_folders(out), NUM_CLIPS - 5)
    _run(_synth(out))
    _same_synth(synth_reference, out)
    assert not temporary_files(out)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """20 images and 4 ten-frame videos: 32 frames to annotate with --frames 3."""
    folder = tmp_path_factory.mktemp("annotate-media") / "in"
    for i in range(20):
        bad_media.good_jpeg(folder, f"image-{i:02d}.jpg")
    for i in range(4):
        bad_media.video(folder / "clips", 10, f"clip-{i}.mp4")
    return folder


@pytest.fixture(scope="module")
def annotate_reference(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotate-ref") / "S"
    _run(_annotate(media, out))
    return out


def _shards(out: Path) -> int:
    return len(list(out.glob("shard-*.npz"))) if out.is_dir() else 0


@pytest.mark.parametrize("kill_at", [1, 8, 20])
def test_annotate_killed_and_rerun_equals_an_uninterrupted_run(media, annotate_reference, tmp_path, kill_at):
    out = tmp_path / "S"
    _kill_when(_annotate(media, out), lambda: _shards(out), kill_at)
    assert _shards(out) >= kill_at
    _run(_annotate(media, out))
    same_store(annotate_reference, out)
    assert len(same_keys := set(_keys(out))) == 20 + 4 * 3, sorted(same_keys)
    assert not temporary_files(out)


def _keys(store: Path) -> list[str]:
    from vemd.structure.annotations import AnnotationStore

    return AnnotationStore(store).keys()


# vemd predict whose figures are saved in two halves with a pause between: a kill lands while a
# PNG is half written (the marker file says the first half is out).
PREDICT_PAUSED_WHILE_PLOTTING = """
import io, sys, time
from pathlib import Path
from matplotlib.figure import Figure
from vemd.cli import main

marker, save = Path(sys.argv[1]), Figure.savefig


def half_then_pause(self, target, *args, **kwargs):
    buffer = io.BytesIO()
    save(self, buffer, *args, **{**kwargs, "format": "png"})
    half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    if hasattr(target, "write"):
        target.write(half)
        target.flush()
    else:
        Path(target).write_bytes(half)
    marker.touch()
    time.sleep(120)


Figure.savefig = half_then_pause
sys.exit(main(sys.argv[2:]))
"""


def test_predict_killed_while_plotting_keeps_the_earlier_figure_whole(base_model, tmp_path, capsys):
    from vemd.cli import main
    from vemd.inference.report import plot_name

    clip, out, marker = bad_media.video(tmp_path / "in", 20, fps=10), tmp_path / "out", tmp_path / "saving"
    argv = ["predict", str(clip), "--ckpt", str(base_model), "--window", "1", "--out", str(out)]
    assert main(argv) == 0  # 2 windows: a timeline figure
    figure = out / plot_name(clip)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert before[figure.name][:8] == b"\x89PNG\r\n\x1a\n"
    _kill_when([sys.executable, "-c", PREDICT_PAUSED_WHILE_PLOTTING, str(marker), *argv], marker.exists, 1)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".tmp"} == before
    capsys.readouterr()
    assert main(argv) == 0  # the next run takes the killed one's temporary file away
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # and leaves no lock file
    assert not temporary_files(out)


# vemd annotate with the stub backend that waits, before each frame, while a hold file exists.
ANNOTATE_HELD = """
import sys, time
from pathlib import Path
from tests.annotate.helpers import FakeBackend
from vemd.annotate.backends import register_backend
from vemd.cli import main

hold = Path(sys.argv[1])


class HeldBackend(FakeBackend):
    def detect_faces(self, image):
        while hold.exists():
            time.sleep(0.01)
        return super().detect_faces(image)


register_backend("stub", HeldBackend)
sys.exit(main(sys.argv[2:]))
"""


def test_a_second_annotate_into_a_store_being_written_is_refused(media, annotate_reference, tmp_path):
    out, hold = tmp_path / "S", tmp_path / "hold"
    other = tmp_path / "other"
    bad_media.good_jpeg(other, "another.jpg")
    hold.touch()
    argv = ["annotate", str(media), "--out", str(out), "--backend", "stub", "--frames", "3", "--no-progress"]
    first = subprocess.Popen(
        [sys.executable, "-c", ANNOTATE_HELD, str(hold), *argv],
        cwd=REPO,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while not (out / "meta.json").exists():  # the first run has opened the store
            assert first.poll() is None, first.stderr.read().decode()[-1500:]
            assert time.monotonic() < deadline, "the first run did not open the store in 90 s"
            time.sleep(0.01)
        second = [sys.executable, "-c", ANNOTATE_HELD, str(tmp_path / "no-hold"), *argv]
        second[second.index(str(media))] = str(other)
        done = subprocess.run(
            second, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=120
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1, done.stderr[-1500:]
        assert len(lines) == 1 and lines[0].startswith(f"vemd annotate: error: {out}: another vemd annotate")
    finally:
        hold.unlink(missing_ok=True)
        assert first.wait(timeout=120) == 0, first.stderr.read().decode()[-1500:]
        first.stderr.close()
    same_store(annotate_reference, out)  # the first run's frames, all of them, and nothing else
    assert not temporary_files(out)


# A server process in the middle of an upload: its private folder holds part of the client's file.
UPLOADING = """
import sys, time
from vemd.serve.upload import private_folder

with private_folder(sys.argv[1]) as folder:
    (folder / "upload-1234.mp4").write_bytes(b"part of the client's video")
    time.sleep(120)
"""


def test_a_server_starting_removes_the_uploads_a_killed_server_left(base_model, tmp_path):
    pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
    from vemd.serve.app import create_app
    from vemd.serve.upload import private_folder

    uploads = tmp_path / "uploads"
    uploads.mkdir()
    _kill_when([sys.executable, "-c", UPLOADING, str(uploads)], lambda: len(list(uploads.rglob("*.mp4"))), 1)
    [left] = list(uploads.iterdir())  # kill -9: nothing could remove it
    with private_folder(uploads) as live:  # a running server's upload (this process) stays
        create_app(base_model, tmp_dir=uploads)
        assert list(uploads.iterdir()) == [live]
    assert not left.exists() and list(uploads.iterdir()) == []
