"""Peak memory and speed of ``vemd predict`` on long generated 720p videos.

For each length (minutes), writes a 1280×720 MP4 (moving noise blocks, ``--fps`` frames per
second) and runs ``vemd predict VIDEO --out DIR`` on it, progress bar drawn (to a discarded
stream treated as a terminal), with the tiny test model (random weights: the figures are
about decoding and windowing, not accuracy), each in a fresh process, so its peak resident
memory is its own. Prints, per length: windows, decoded frames per second of video time processed,
wall time and peak RSS, then the ratio of the longest video's peak to the shortest's (the
predictor decodes window by window, so it should stay near 1).

    .venv/bin/python benchmarks/bench_predict_stream.py [--minutes 1 30] [--fps 10] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_video(path: Path, minutes: float, fps: int) -> Path:
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        base = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
        for k in range(int(minutes * 60 * fps)):
            image = np.roll(base, 8 * k, axis=1)  # moving content: real inter-frame coding
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def predict_once(video: str, model: str, batch_size: str) -> None:
    """Child process: ``vemd predict`` one video, print a JSON line with the figures."""
    import contextlib
    import io
    import os

    from vemd.cli import main

    os.environ["TTY_COMPATIBLE"] = "1"  # the progress bar is drawn, as on a terminal
    out = Path(video).with_suffix(".out")
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        code = main(["predict", video, "--ckpt", model, "--out", str(out), "--batch-size", batch_size])
    seconds = time.perf_counter() - start
    assert code == 0, code
    (result,) = json.loads((out / "predictions.json").read_text())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"windows": len(result["windows"]), "duration": result["duration"], "seconds": seconds}
    print(json.dumps(row | {"peak_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 30])
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=4, help="windows per forward pass")
    args = parser.parse_args()

    from tests.models.helpers import tiny_model, write_model_file

    from vemd.config import to_dict

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg, model = tiny_model()
        model_path = tmp / "model.pt"
        write_model_file(model_path, to_dict(cfg), model.inference_state_dict())
        peaks = []
        for minutes in sorted(args.minutes):
            video = write_video(tmp / f"{minutes:g}min.mp4", minutes, args.fps)
            code = (
                "import sys; sys.path.insert(0, sys.argv[3]); from benchmarks.bench_predict_stream import "
                "predict_once; predict_once(sys.argv[1], sys.argv[2], sys.argv[4])"
            )
            done = subprocess.run(
                [sys.executable, "-c", code, str(video), str(model_path), str(REPO), str(args.batch_size)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            peaks.append(row["peak_mib"])
            frames = row["duration"] * args.fps
            print(
                f"{minutes:g} min 720p @ {args.fps} fps: {row['windows']} windows, "
                f"{frames / row['seconds']:.0f} frames/s, {row['seconds']:.1f} s, peak RSS {row['peak_mib']:.0f} MiB"
            )
            video.unlink()
        if len(peaks) > 1:
            print(f"peak RSS ratio longest/shortest: {peaks[-1] / peaks[0]:.2f}")


if __name__ == "__main__":
    main()
