"""The page at ``/`` in a real headless browser (Debian's chromium driven by Playwright).

A short generated video is chosen on ``#file``: the page must show a label among the model's
classes, one bar per class summing to 100 %, and a timeline with one series per class; a
text file named ``.jpg`` must then show the server's one-line error and clear the result.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from tests.data.bad_media import text_named_jpg, video
from tests.models.helpers import tiny_model, write_model_file

from vemd.config import to_dict

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it via apt)"
)
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (extra 'serve')")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (extra 'serve')")

FPS = 10
WINDOW = 1.0  # seconds per window (the tiny model's default is 5 s)
SECONDS = 4  # four windows
CARD = "# Tiny model\n\nRandom weights, classes a, b and c.\n"
SHOT = Path("/tmp/vemd_page.png")  # a copy of the screenshot to look at


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app on a free loopback port, served by uvicorn in a background thread."""
    from vemd.serve.app import create_app

    folder = tmp_path_factory.mktemp("serve")
    cfg, model = tiny_model()
    write_model_file(folder / "model.pt", to_dict(cfg), model.inference_state_dict())
    (folder / "MODEL_CARD.md").write_text(CARD)
    app = create_app(
        folder / "model.pt",
        max_upload_mb=10,
        max_duration_s=60,
        max_concurrent=1,
        queue_timeout_s=10,
        request_timeout_s=30,
        tmp_dir=folder / "uploads",
        window=WINDOW,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    instance.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture()
def page(server):
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        messages = []
        page.on("pageerror", lambda exc: messages.append(str(exc)))
        page.goto(server + "/")
        yield page
        assert not messages, f"script errors on the page: {messages}"
        browser.close()


def _percent(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*%\s*", text)
    assert match, f"not a percentage: {text!r}"
    return float(match.group(1))


def test_page_shows_a_video_result_then_an_error(page, tmp_path):
    page.wait_for_selector("#model .model-item")
    header = page.text_content("#model")
    classes = ["a", "b", "c"]  # write_model_file's class names
    assert "Classes a, b, c" in header, header
    assert "group-level output only; nothing is stored" in page.text_content("body")
    assert page.text_content("#model-card-text") == CARD

    clip = video(tmp_path, SECONDS * FPS, "clip.mp4", fps=FPS, noise=True)
    page.set_input_files("#file", clip)
    page.wait_for_function("document.querySelector('#label').textContent.trim() !== ''", timeout=30_000)
    assert page.is_hidden("#error")
    assert page.text_content("#label").strip() in classes

    names = page.locator("#probs .bar .name").all_text_contents()
    assert names == classes
    shares = [_percent(t) for t in page.locator("#probs .bar .pct").all_text_contents()]
    assert sum(shares) == pytest.approx(100, abs=0.3)
    widths = page.eval_on_selector_all("#probs .fill", "els => els.map(e => e.getBoundingClientRect().width)")
    assert len(widths) == 3 and max(widths) > 0

    series = page.locator("#timeline svg .series")
    assert series.count() == len(classes)
    assert [series.nth(i).get_attribute("data-class") for i in range(series.count())] == classes
    points = page.locator("#timeline svg .series polyline").first.get_attribute("points").split()
    assert len(points) == SECONDS / WINDOW  # one per window
    assert page.locator("#timeline .legend li").all_text_contents() == classes
    assert page.locator("#timeline table tbody tr").count() == len(points)
    assert "Done" in page.text_content("#status")

    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    shutil.copyfile(tmp_path / "page.png", SHOT)

    broken = text_named_jpg(tmp_path, "notes.jpg")
    page.set_input_files("#file", broken)
    page.wait_for_selector("#error", state="visible", timeout=30_000)
    message = page.text_content("#error")
    assert message.strip() and "\n" not in message.strip(), message
    assert page.is_hidden("#result")
    assert page.text_content("#label") == "" and page.text_content("#probs") == ""
    assert page.locator("#timeline svg").count() == 0
