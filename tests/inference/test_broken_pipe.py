"""`vemd predict --json … | head -1`: the reader going away ends vemd quietly, with no traceback."""

import os
import subprocess
import sys
from pathlib import Path

from tests.data import bad_media

ROOT = Path(__file__).resolve().parents[2]


def test_a_closed_stdout_ends_quietly(model_file, tmp_path):
    video = bad_media.video(tmp_path, 80, fps=10)  # 16 windows of 0.5 s: many lines after the first
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "vemd.cli", "predict", str(video), "--ckpt", str(model_file)]
    process = subprocess.Popen(
        [*command, "--json", "--window", "0.5", "--batch-size", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout.readline().startswith(b'{"type": "window"')
    process.stdout.close()  # as `head -1` does
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0 and b"Traceback" not in err, err.decode()
