"""MediaPipe's and TFLite's glog lines (printed by C++ to fd 2) stay out of the terminal of
`vemd annotate` with the offline backend, unless --verbose."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.annotate.helpers import fixture, require_annotate_extra

NATIVE = ("W0000", "I0000", "TensorFlow Lite", "absl::InitializeLog")


def _annotate(media, out, *flags: str) -> subprocess.CompletedProcess:
    code = "import sys; from vemd.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "VEMD_VERBOSE"}
    args = [*flags, "annotate", str(media), "--out", str(out), "--backend", "offline", "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_offline_backend_glog_lines_only_with_verbose(tmp_path):
    require_annotate_extra()
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(fixture("images", "facerec_two_people.jpg"), media)
    quiet = _annotate(media, tmp_path / "quiet")
    assert [s for s in NATIVE if s in quiet.stderr] == [], quiet.stderr
    loud = _annotate(media, tmp_path / "loud", "--verbose")
    assert any(s in loud.stderr for s in NATIVE)
