"""The app of ``vemd serve`` through FastAPI's TestClient: results, limits, errors, privacy.

Every upload goes through :func:`post`, which lists the app's upload folder before and after
the request: whatever the answer (200, 413, 415, 422, 503, 504), nothing may be left behind.
"""

from __future__ import annotations

import json
import logging
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from tests.data import bad_media

import vemd
from vemd.inference.results import PUBLIC_KEYS, WINDOW_KEYS

fastapi = pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
from fastapi.testclient import TestClient  # noqa: E402

from vemd.serve import app as serve_app  # noqa: E402
from vemd.serve.app import create_app  # noqa: E402

LIMIT_MB = 1
MAX_S = 5  # longest video the test app takes
FPS = 10
CLASSES = ["a", "b", "c"]  # write_model_file's class names


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve") / "uploads"  # create_app makes it


@pytest.fixture(scope="module")
def client(model_file, uploads):
    app = create_app(
        model_file,
        max_upload_mb=LIMIT_MB,
        max_duration_s=MAX_S,
        max_concurrent=1,
        queue_timeout_s=0.3,
        request_timeout_s=30,
        tmp_dir=uploads,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture()
def post(client, uploads):
    """``post(path_or_bytes, name)``: POST /v1/predict, checking that no file is left behind."""

    def post(content, name: str | None = None, *, data=None, params=None):
        if isinstance(content, Path):
            name, content = name or content.name, content.read_bytes()
        before = listing(uploads)
        response = client.post("/v1/predict", files={"file": (name, content)}, data=data, params=params)
        assert listing(uploads) == before
        return response

    return post


def one_line_error(response) -> str:
    """The ``error`` of a JSON error body on one line, naming no server path."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"]
    assert "\n" not in response.text and "/tmp" not in response.text and "vemd-upload" not in response.text
    return body["error"]


def check_result(result: dict, name: str) -> None:
    """A group-level result: the keys of GroupEmotion.to_dict (no valence head here) and its type."""
    assert set(result) == PUBLIC_KEYS | {"type"} and result["type"] == "result"
    assert result["input"] == name
    assert result["label"] in CLASSES and list(result["probs"]) == CLASSES
    assert sum(result["probs"].values()) == pytest.approx(1, abs=1e-5)
    assert result["windows"] and all(set(w) == WINDOW_KEYS for w in result["windows"])


# ---- results ----------------------------------------------------------------------------------


def test_an_image_and_a_video_give_the_result_vemd_predict_prints(post, model_file, tmp_path):
    predictor = vemd.load(model_file)
    image = bad_media.good_png(tmp_path, "group.png")
    clip = bad_media.video(tmp_path, 3 * FPS, "clip.mp4", fps=FPS)
    for path in (image, clip):
        response = post(path)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        result = response.json()
        check_result(result, path.name)
        # the line `vemd predict --json` prints: typed, numbers rounded
        expected = {"type": "result", **predictor.predict(path).to_dict(rounded=True)}
        assert result == expected | {"input": path.name}
    assert post(clip).json()["duration"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    "client_name", ["../../etc/clip.mp4", "C:\\Users\\someone\\clip.mp4", "/home/x/clip.mp4"]
)
def test_input_is_the_basename_of_the_client_file_name(post, tmp_path, client_name):
    clip = bad_media.video(tmp_path, 2 * FPS, fps=FPS)
    response = post(clip, client_name)
    assert response.status_code == 200, response.text
    assert response.json()["input"] == "clip.mp4"


def test_contents_not_the_name_decide_image_or_video(post, tmp_path):
    png = bad_media.good_png(tmp_path)
    clip = bad_media.video(tmp_path, 2 * FPS, fps=FPS)
    for content, name, duration in ((png, "photo.dat", 0.0), (png, "photo", 0.0), (clip, "clip.jpg", 2.0)):
        response = post(content, name)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["input"] == name and response.json()["duration"] == pytest.approx(duration)


def test_window_and_stride_from_the_query_or_the_form(post, tmp_path):
    clip = bad_media.video(tmp_path, 3 * FPS, fps=FPS)
    assert len(post(clip).json()["windows"]) == 1  # the tiny model's 5 s default window
    spans = [(w["start"], w["end"]) for w in post(clip, params={"window": 1}).json()["windows"]]
    assert spans == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    spans = [
        (w["start"], w["end"]) for w in post(clip, data={"window": "1", "stride": "0.5"}).json()["windows"]
    ]
    assert spans == [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5), (2.0, 3.0)]
    for params, data in (({"window": "abc"}, None), ({"stride": "-1"}, None), (None, {"window": "inf"})):
        response = post(clip, params=params, data=data)
        assert response.status_code == 422, response.text
        assert "window" in one_line_error(response) or "stride" in one_line_error(response)


# ---- errors -----------------------------------------------------------------------------------


def _noise(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(np.random.default_rng(0).bytes(size))
    return path


def _webm_1000_fps(folder: Path, frames: int) -> Path:
    """A WebM of ``frames`` frames one second apart whose codec declares 1000 fps."""
    times = [float(k) for k in range(frames)]
    return bad_media.timed_video(folder, times, "ms.webm", format="webm", codec="libvpx", rate=1000)


UPLOADS = [  # (what, writer, status, words in the error)
    ("larger than the limit", lambda d: _noise(d, "big.jpg", LIMIT_MB * 1_000_000 + 1), 413, "limit of 1 MB"),
    ("declared larger", lambda d: _noise(d, "big.jpg", 2 * LIMIT_MB * 1_000_000), 413, "limit of 1 MB"),
    ("video too long", lambda d: bad_media.video(d, (MAX_S + 1) * FPS, "long.mp4", fps=FPS), 413, "6.0 s"),
    ("too long by its timestamps", lambda d: _webm_1000_fps(d, 10), 413, "9.0 s"),  # 10 frames at 1000 fps
    ("text file", lambda d: bad_media.text_file(d), 415, "not an image"),
    ("text named .jpg", lambda d: bad_media.text_named_jpg(d), 415, "not an image"),
    ("random bytes", lambda d: _noise(d, "noise.mp4", 5000), 415, "not an image"),
    ("truncated JPEG", lambda d: bad_media.truncated_jpeg(d), 422, "truncated.jpg: truncated image"),
    ("MP4 cut before its index", lambda d: bad_media.cut_mp4(d, index_first=False), 422, "unreadable video"),
    ("MP4 without a video track", lambda d: bad_media.video(d, 0), 422, "video0.mp4: no video stream"),
    ("empty file", lambda d: bad_media.zero_byte_jpg(d), 422, "empty file"),
]


@pytest.mark.parametrize(("what", "write", "status", "words"), UPLOADS, ids=[u[0] for u in UPLOADS])
def test_a_refused_upload_is_one_line_of_json(post, tmp_path, what, write, status, words):
    response = post(write(tmp_path))
    assert response.status_code == status, response.text
    assert words in one_line_error(response)


def test_the_upload_limit_counts_the_file_bytes(post, tmp_path):
    exact = _noise(tmp_path, "exact.jpg", LIMIT_MB * 1_000_000)  # at the limit: read, then 415 by content
    assert post(exact).status_code == 415


def test_a_truncated_video_is_predicted_over_the_frames_that_decode(post, tmp_path):
    response = post(bad_media.cut_mp4(tmp_path, index_first=True))
    assert response.status_code == 200, response.text
    assert 0 < response.json()["duration"] < 4.0


def test_a_body_without_a_file_field_is_422(client, uploads, tmp_path):
    image = bad_media.good_png(tmp_path).read_bytes()
    bodies = [
        {"data": {"window": "1"}, "files": {"other": ("a.png", image)}},
        {"json": {"file": "a.png"}},
        {"content": b""},
        {
            "content": b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
            + image,
            "headers": {"content-type": "multipart/form-data; boundary=x"},
        },  # no closing boundary
        {"files": [("file", ("a.png", image)), ("file", ("b.png", image))]},
    ]
    for body in bodies:
        response = client.post("/v1/predict", **body)
        assert response.status_code == 422, (body.keys(), response.text)
        assert "file" in one_line_error(response) or "multipart" in one_line_error(response)
        assert listing(uploads) == []


def test_unknown_paths_and_methods_are_one_line_of_json(client):
    assert one_line_error(client.get("/v1/nothing")) and client.get("/v1/nothing").status_code == 404
    assert client.get("/v1/predict").status_code == 405 and one_line_error(client.get("/v1/predict"))


# ---- concurrency and time ----------------------------------------------------------------------


def _held_predict(app, monkeypatch, release: threading.Event, *, cooperative: bool = True) -> dict:
    """Make the app's predictor wait for ``release``; ``cooperative``: checking in between
    'windows' as the real one does. Returns events set when an inference starts and ends."""
    predictor = app.state.predictor
    real = predictor.predict
    events = {"started": threading.Event(), "ended": threading.Event()}

    def held(path, *, on_window=None, **options):
        events["started"].set()
        give_up = time.monotonic() + 30  # a failing test must not leave a thread behind
        try:
            while not release.wait(0.02) and time.monotonic() < give_up:
                if cooperative:
                    on_window(None)  # raises once the request has given up
            return real(path, on_window=on_window, **options)
        finally:
            events["ended"].set()

    monkeypatch.setattr(predictor, "predict", held)
    return events


def test_a_request_beyond_the_busy_slots_gets_503_then_the_slot_frees(
    client, post, uploads, monkeypatch, tmp_path
):
    image = bad_media.good_png(tmp_path)
    release = threading.Event()
    events = _held_predict(client.app, monkeypatch, release)
    before = listing(uploads)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/v1/predict", files={"file": ("first.png", image.read_bytes())})
        assert events["started"].wait(30)
        second = post(image, "second.png")  # max_concurrent=1, queue_timeout_s=0.3
        release.set()
        assert first.result(timeout=60).status_code == 200
    assert second.status_code == 503 and "busy" in one_line_error(second)
    assert second.headers["retry-after"] == "1"
    assert listing(uploads) == before
    assert post(image).status_code == 200


def test_a_request_past_its_time_limit_gets_504_and_its_inference_stops(model_file, tmp_path, monkeypatch):
    uploads = tmp_path / "uploads"
    app = create_app(model_file, max_concurrent=1, queue_timeout_s=0.3, request_timeout_s=2, tmp_dir=uploads)
    image = bad_media.good_png(tmp_path).read_bytes()

    def status(name: str) -> int:
        response = client.post("/v1/predict", files={"file": (name, image)})
        if response.status_code != 200:
            assert one_line_error(response)
        return response.status_code

    with TestClient(app) as client:
        release = threading.Event()
        stubborn = _held_predict(app, monkeypatch, release, cooperative=False)
        assert status("slow.png") == 504
        assert status("next.png") == 503  # the inference given up on still runs: its slot stays taken
        release.set()
        assert stubborn["ended"].wait(30)
        monkeypatch.undo()
        cooperative = _held_predict(app, monkeypatch, threading.Event())
        assert status("slow.png") == 504
        assert cooperative["ended"].wait(5)  # stopped at its next check between windows
        monkeypatch.undo()
        assert status("quick.png") == 200
    assert listing(uploads) == []


# ---- privacy ----------------------------------------------------------------------------------


def test_an_upload_lives_in_a_private_file_while_it_is_predicted(
    client, post, uploads, monkeypatch, tmp_path, caplog
):
    predictor = client.app.state.predictor
    real, seen = predictor.predict, []

    def looking(path, **options):
        path = Path(path)
        modes = stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode)
        seen.append((path, *modes, path.read_bytes()))
        return real(path, **options)

    monkeypatch.setattr(predictor, "predict", looking)
    caplog.set_level(logging.DEBUG)
    png = bad_media.good_png(tmp_path)
    clip = bad_media.video(tmp_path, 2 * FPS, fps=FPS)
    sent = ((png, "Secret Meeting.PNG"), (png, "secret.dat"), (clip, "secret.mov"))
    for content, name in sent:
        assert post(content, name).status_code == 200
    assert [(p.parent.parent, p.suffix, mode, folder) for p, mode, folder, _ in seen] == [
        (uploads, ".png", 0o600, 0o700),
        (uploads, ".png", 0o600, 0o700),  # renamed by its contents
        (uploads, ".mov", 0o600, 0o700),
    ]
    assert [stored for *_, stored in seen] == [content.read_bytes() for content, _ in sent]
    assert not any(p.exists() for p, *_ in seen)
    assert "ecret" not in caplog.text and str(uploads) not in caplog.text


# ---- the other endpoints -----------------------------------------------------------------------


def test_health(client):
    assert client.get("/v1/health").json() == {"status": "ok"}


def test_model_describes_the_model_and_shows_its_card(client, model_file):
    info = client.get("/v1/model").json()
    assert info["class_names"] == CLASSES and info["model_card"] is info["model_card_html"] is None
    assert info["mode"] == "ve-md-sr" and info["image_size"] == 64 and info["frames"] == 4
    assert info["window"] == 5.0 and info["vemd_version"] == vemd.__version__
    assert info["max_upload_mb"] == LIMIT_MB and info["max_duration_s"] == MAX_S
    card = model_file.with_name("MODEL_CARD.md")
    card.write_text("# Model card\n\nTrained on SynthGroups.\n", encoding="utf-8")
    try:
        info = client.get("/v1/model").json()
        assert info["model_card"] == "# Model card\n\nTrained on SynthGroups.\n"
        assert info["model_card_html"] == "<h1>Model card</h1>\n<p>Trained on SynthGroups.</p>\n"
    finally:
        card.unlink()
    info = client.get("/v1/model").json()
    assert info["model_card"] is info["model_card_html"] is None


def test_the_page_is_served_when_installed(client, monkeypatch, tmp_path):
    monkeypatch.setattr(serve_app, "STATIC", tmp_path)
    response = client.get("/")
    assert response.status_code == 404 and "no web page" in one_line_error(response)
    (tmp_path / "index.html").write_text("<!doctype html><title>vemd</title>", encoding="utf-8")
    response = client.get("/")
    assert response.status_code == 200 and "<title>vemd</title>" in response.text


def test_the_openapi_description_describes_the_upload(client):
    for viewer in ("/docs", "/redoc"):  # they load from a CDN: off (test_offline.py)
        assert client.get(viewer).status_code == 404
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["file"]
    assert {"413", "415", "422", "503", "504"} <= set(spec["paths"]["/v1/predict"]["post"]["responses"])
    json.dumps(spec)


def test_bad_limits_are_refused_before_the_model_loads(tmp_path):
    for options in ({"max_upload_mb": 0}, {"queue_timeout_s": float("nan")}, {"max_concurrent": 0}):
        with pytest.raises(ValueError, match=next(iter(options))):
            create_app(tmp_path / "missing.pt", **options)
