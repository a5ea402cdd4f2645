"""Load test of ``vemd serve`` on the loopback interface: throughput, latency, errors, memory.

Starts ``vemd serve`` in a subprocess (the tiny test model, random weights: the figures are
about serving, decoding and windowing, not accuracy) with its uploads in a private
``TMPDIR``, then ``--clients`` threads, each with its own HTTP connection, post generated
uploads in turn (a 640×480 JPEG, then a ``--clip-seconds`` 320×240 MP4) as fast as answers
come: first for ``--warmup-seconds``, then for ``--seconds``, measured. Prints requests/s,
p50/p95 latency per kind, the answers that were not 200, the server's resident memory
(``VmRSS``) and peak (``VmHWM``) after the warm-up and at the end, sampled once a second in
between, and a verdict: no error where none may happen (clients ≤ ``--max-concurrent``, or a
queue timeout longer than the slowest answer), memory flat (peak grown by less than
``--rss-tolerance-mib``), no upload left in ``TMPDIR``.

    .venv/bin/python benchmarks/bench_serve.py [--clients 4] [--seconds 20] [--max-concurrent 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_media(folder: Path, clip_seconds: float) -> dict[str, bytes]:
    """The uploads: one JPEG photo and one short MP4 clip (moving noise, 10 fps)."""
    import av
    from PIL import Image

    rng = np.random.default_rng(0)
    photo = folder / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(photo, quality=85)
    clip = folder / "clip.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        base = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        for k in range(int(clip_seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 4 * k, axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return {"photo.jpg": photo.read_bytes(), "clip.mp4": clip.read_bytes()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))


class Clients:
    """``count`` threads posting the uploads in turn until told to stop; records every answer."""

    def __init__(self, base: str, media: dict[str, bytes], count: int) -> None:
        self.base, self.media, self.count = base, media, count
        self.measuring = threading.Event()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.records: list[tuple[str, int, float]] = []  # (upload, status, seconds), measured phase only
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(600)

    def _run(self, number: int) -> None:
        import httpx

        names = list(self.media)
        with httpx.Client(base_url=self.base, timeout=600) as client:
            k = number  # clients start on different uploads
            while not self.stop.is_set():
                name = names[k % len(names)]
                k += 1
                measured = self.measuring.is_set()
                start = time.perf_counter()
                try:
                    status = client.post("/v1/predict", files={"file": (name, self.media[name])}).status_code
                except httpx.TransportError as err:
                    status = f"transport error ({type(err).__name__})"
                seconds = time.perf_counter() - start
                if measured and self.measuring.is_set():  # the whole request inside the measured phase
                    with self.lock:
                        self.records.append((name, status, seconds))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20, help="measured phase")
    parser.add_argument("--warmup-seconds", type=float, default=5)
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--queue-timeout-s", type=float, default=30)
    parser.add_argument("--clip-seconds", type=float, default=4)
    parser.add_argument("--rss-tolerance-mib", type=float, default=50)
    args = parser.parse_args()

    from tests.models.helpers import tiny_model, write_model_file

    from vemd.config import to_dict

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        uploads = tmp / "tmp"
        uploads.mkdir()
        cfg, model = tiny_model()
        write_model_file(tmp / "model.pt", to_dict(cfg), model.inference_state_dict())
        media = write_media(tmp, args.clip_seconds)
        port = free_port()
        command = [
            *(
                sys.executable,
                "-m",
                "vemd.cli",
                "serve",
                "--ckpt",
                str(tmp / "model.pt"),
                "--port",
                str(port),
            ),
            *("--max-concurrent", str(args.max_concurrent), "--queue-timeout-s", str(args.queue_timeout_s)),
        ]
        env = {**os.environ, "TMPDIR": str(uploads), "HF_HUB_OFFLINE": "1"}
        log = (tmp / "server.log").open("w")
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=tmp)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(server, base, tmp / "server.log")
            clients = Clients(base, media, args.clients)
            clients.start()
            time.sleep(args.warmup_seconds)
            warm = memory_mib(server.pid)
            clients.measuring.set()
            start = time.perf_counter()
            samples = []
            while time.perf_counter() - start < args.seconds:
                time.sleep(1)
                samples.append(memory_mib(server.pid)[0])
            clients.measuring.clear()
            elapsed = time.perf_counter() - start
            end = memory_mib(server.pid)
            clients.join()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
            log.close()
        left = sorted(p.name for p in uploads.glob("vemd-upload-*"))
        return report(args, clients.records, elapsed, warm, end, samples, media, left)


def wait_for(server: subprocess.Popen, base: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"vemd serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    sys.exit("vemd serve did not answer /v1/health in 180 s")


def report(args, records, elapsed, warm, end, samples, media, left) -> int:
    ok = [r for r in records if r[1] == 200]
    errors = Counter(str(status) for _, status, _ in records if status != 200)
    print(
        f"vemd serve on loopback: {args.clients} clients, max_concurrent {args.max_concurrent}, "
        f"queue timeout {args.queue_timeout_s:g} s, {elapsed:.1f} s measured after {args.warmup_seconds:g} s warm-up "
        f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})"
    )
    print(
        f"requests: {len(records)} ({len(records) / elapsed:.2f}/s), errors: {sum(errors.values())} {dict(errors)}"
    )
    for name, data in media.items():
        times = [s for n, status, s in ok if n == name]
        print(
            f"  {name} ({len(data) / 1e3:.0f} kB): {len(times)} answered, "
            f"p50 {percentile(times, 50):.3f} s, p95 {percentile(times, 95):.3f} s"
        )
    times = [s for _, _, s in ok]
    print(f"  all: p50 {percentile(times, 50):.3f} s, p95 {percentile(times, 95):.3f} s")
    print(
        f"server memory: after warm-up RSS {warm[0]:.0f} MiB (peak {warm[1]:.0f}), at the end RSS {end[0]:.0f} MiB "
        f"(peak {end[1]:.0f}); RSS sampled each second {min(samples, default=0):.0f}-{max(samples, default=0):.0f} MiB"
    )
    slowest = max((s for _, _, s in records), default=0.0)
    errors_allowed = args.clients > args.max_concurrent and args.queue_timeout_s < slowest
    growth = end[1] - warm[1]
    problems = []
    if errors and not errors_allowed:
        problems.append(f"{sum(errors.values())} errors below the concurrency limit")
    if growth > args.rss_tolerance_mib:
        problems.append(f"peak memory grew by {growth:.0f} MiB")
    if left:
        problems.append(f"uploads left behind: {left}")
    if not ok:
        problems.append("no request answered")
    verdict = "OK" if not problems else "FAIL: " + "; ".join(problems)
    print(
        f"verdict: {verdict} (peak growth {growth:+.0f} MiB over {len(records)} requests; uploads left: {len(left)})"
    )
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
