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
