"""``vemd serve`` itself: its one-line refusals, and a real server on a loopback port."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
from tests.data.bad_media import good_png

from vemd.cli import main

httpx = pytest.importorskip("httpx", reason="httpx is not installed (extra 'dev')")
pytest.importorskip("uvicorn", reason="uvicorn is not installed (extra 'serve')")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vemd serve: error: ")
    return err


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn", "python_multipart"])
def test_without_the_serve_extra_it_says_what_to_install(model_file, monkeypatch, capsys, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` fail
    assert main(["serve", "--ckpt", str(model_file)]) == 1
    assert _one_error_line(capsys).endswith(f"vemd serve needs {missing}: pip install vemd[serve]")


def test_a_bad_model_file_is_one_line_before_the_server_starts(tmp_path, monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a model")
    assert main(["serve", "--ckpt", str(bad)]) == 1
    assert f"{bad}: not a readable vemd model" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--max-upload-mb", "0"), ("--queue-timeout-s", "nan"), ("--max-concurrent", "0"), ("--port", "70000")],
)
def test_bad_limits_are_one_line(tmp_path, capsys, flag, value):
    assert main(["serve", "--ckpt", str(tmp_path / "model.pt"), flag, value]) == 1
    assert f"{flag} {value}" in _one_error_line(capsys).replace("'", "")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(sock: socket.socket) -> str:
    return sock.recv(4096).split(b"\r\n", 1)[0].decode()


def _status_of_unfinished_upload(port: int, size: int) -> str:
    """The status line answered to a chunked upload of more than ``size`` bytes whose body never ends."""
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        piece, sent = head + b"\xff" * 16384, 0
        while sent <= size and not select.select([sock], [], [], 0)[0]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent, piece = sent + len(piece), b"\xff" * 16384
        return _status(sock)


def _status_of_declared_length(port: int, length: int) -> str:
    """The status line answered to an upload that declares ``length`` bytes and sends none."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n" % length
        )
        return _status(sock)


def test_vemd_serve_answers_over_http_and_stops_cleanly(model_file, tmp_path):
    port, temp = _free_port(), tmp_path / "tmp"
    temp.mkdir()
    command = [sys.executable, "-m", "vemd.cli", "serve", "--ckpt", str(model_file), "--port", str(port)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(temp)}
    server = subprocess.Popen(
        [*command, "--max-upload-mb", "1"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "vemd serve did not answer /v1/health"
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).json() == {"status": "ok"}:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        image = good_png(tmp_path, "group photo.png")
        response = httpx.post(
            f"{base}/v1/predict", files={"file": (image.name, image.read_bytes())}, timeout=60
        )
        assert response.status_code == 200, response.text
        assert response.json()["input"] == "group photo.png"
        # the server answers 413 as soon as the limit is passed, without waiting for the rest
        assert _status_of_unfinished_upload(port, 1_000_000).startswith("HTTP/1.1 413")
        assert _status_of_declared_length(port, 50_000_000).startswith("HTTP/1.1 413")
        assert httpx.get(f"{base}/v1/health", timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "Traceback" not in err and err.strip().endswith("vemd serve: stopped"), err
    assert f"on http://127.0.0.1:{port}/" in err
    assert "group photo" not in err
    assert not list(temp.glob("vemd-upload-*"))
