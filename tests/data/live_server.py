"""A loopback HTTP server that streams MPEG-TS video encoded on the fly, like a network camera.

:func:`serve_stream` gives the URL of a stream of moving-bar frames (:func:`bar_frame`),
MPEG-4 Part 2 video in MPEG-TS written into the response as each frame is encoded (paced
at the frame rate, as a camera sends them); :func:`serve_bytes` gives a URL that answers
with fixed bytes.
Each request runs in a thread named :data:`CLIENT_THREAD`; on leaving the context the
server stops, closes its port and joins every thread, a client still connected included.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import numpy as np

CLIENT_THREAD = "live-server-client"
ENDINGS = ("close", "reset", "stall")
BAR = (255, 160, 0)  # RGB: a decoder that swaps channels shows it blue


def bar_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """Frame ``index`` of the pattern: RGB uint8 (H, W, 3), grey with an orange :data:`BAR` 16 px
    wide at x = 4·index mod (W − 16)."""
    width, height = size
    image = np.full((height, width, 3), 96, np.uint8)
    x = 4 * index % (width - 16)
    image[:, x : x + 16] = BAR
    return image


def streaming_clients() -> int:
    """How many requests the servers of this module are answering now."""
    return sum(thread.name == CLIENT_THREAD for thread in threading.enumerate())


class _Chunked:
    """A writable that sends each write as one HTTP/1.1 chunk."""

    def __init__(self, out) -> None:
        self.out = out

    def write(self, data: bytes) -> int:
        self.out.write(b"%x\r\n%s\r\n" % (len(data), data))
        return len(data)


def _encode(out, stop: threading.Event, seconds, fps, size, realtime) -> None:
    """Encode frames of :func:`bar_frame` into the writable ``out`` until ``seconds`` of video
    (endless when None) or ``stop``; with ``realtime`` a frame is written every 1/fps s."""
    with av.open(out, "w", format="mpegts", buffer_size=1024, container_options={"flush_packets": "1"}) as ts:
        stream = ts.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        start = time.monotonic()
        index = 0
        while (seconds is None or index < seconds * fps) and not stop.is_set():
            if realtime and stop.wait(max(0.0, start + index / fps - time.monotonic())):
                return
            frame = av.VideoFrame.from_ndarray(bar_frame(index, size), format="rgb24")
            ts.mux(stream.encode(frame))
            index += 1
        ts.mux(stream.encode(None))


def _serve(respond: Callable[[BaseHTTPRequestHandler, threading.Event], None]) -> Iterator[str]:
    """Run a threaded HTTP server on 127.0.0.1 whose GET calls ``respond``; yield its URL."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 2  # a write that a client no longer reads fails after this: the thread ends

        def do_GET(self):
            threading.current_thread().name = CLIENT_THREAD
            with suppress(OSError, av.FFmpegError):  # the client left
                respond(self, stop)
            self.close_connection = True  # one response per connection

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stream.ts"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()  # joins the request threads
        thread.join()


@contextmanager
def serve_stream(
    *,
    seconds: float | None,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    realtime: bool = True,
    end: str = "close",
) -> Iterator[str]:
    """URL of an MPEG-TS stream of ``seconds`` × ``fps`` frames of ``size`` (width, height);
    ``seconds=None``: endless, until the client leaves or the context exits.

    After the last frame the server ends the response as ``end`` says: ``close`` (a clean end
    of stream), ``reset`` (a TCP reset, as a dropped connection) or ``stall`` (the connection
    stays open and silent until the context exits).
    """
    if end not in ENDINGS:
        raise ValueError(f"end must be one of {ENDINGS}, not {end!r}")

    def respond(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        # Chunked: a clean end is the empty last chunk (FFmpeg reads an unsized body cut by the
        # server as an I/O error).
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp2t")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        _encode(_Chunked(handler.wfile), stop, seconds, fps, size, realtime)
        if end == "close":
            handler.wfile.write(b"0\r\n\r\n")
        elif end == "reset":  # linger 0: closing sends RST instead of FIN
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
        elif end == "stall":
            stop.wait()

    yield from _serve(respond)


@contextmanager
def serve_bytes(body: bytes, content_type: str = "text/plain") -> Iterator[str]:
    """URL that answers every GET with ``body``."""

    def respond(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    yield from _serve(respond)
