"""The page at ``/`` in a real headless browser (Debian's chromium driven by Playwright).

One upload control (a label over a hidden file input, also the drop zone) with a preview of the
chosen file; the window and stride fields sent with it, and sent again by "Apply"; the model
card as HTML; the caveat of a model trained on drawn scenes (the tiny model here is one); a
video's timeline of stacked areas over the time its windows cover, a one-window video
included; a layout that holds at 390 px; a one-line error that clears the result. Every request
the page makes goes to the server.

With ``VEMD_PAGE_SHOTS=<folder>`` the tests save screenshots there (desktop and 390 px, an
image and a video result) to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.data.bad_media import good_png, text_named_jpg, video
from tests.models.helpers import tiny_model, write_model_file

from vemd.config import to_dict

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it via apt)"
)
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (extra 'dev')")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (extra 'serve')")

CLASSES = ["a", "b", "c"]  # write_model_file's class names
FPS = 10
WINDOW = 1.0  # seconds per window (the tiny model's default is 5 s)
SECONDS = 4  # four windows
DESKTOP, PHONE = 1000, 390  # page widths, px
SHOTS = os.environ.get("VEMD_PAGE_SHOTS")
CARD = """# Tiny model

Random weights.

## Results

| split | accuracy |
|---|---|
| test | not evaluated |

- classes `a`, `b` and `c`

<script>document.title = "injected"</script>

<!-- vemd-card {"class_names": ["a", "b", "c"]} -->
"""


# The form fields the page sends beside the file, recorded as it calls fetch (Playwright sees
# no multipart body that holds a File).
RECORD_FIELDS = """
window.sentFields = [];
const send = window.fetch;
window.fetch = (url, options) => {
  if (options && options.body instanceof FormData) {
    window.sentFields.push(Object.fromEntries([...options.body].filter(([name]) => name !== "file")));
  }
  return send(url, options);
};
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real app on a free loopback port, served by uvicorn in a background thread; its
    model was trained on the built-in synthetic data (``data.name`` synth): the caveat shows."""
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
        precision="fp32",  # no bf16 timing at start
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


@pytest.fixture(scope="module")
def browser():
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@contextmanager
def opened(browser, server: str, width: int):
    """The page at ``width`` px, its model information loaded; on leaving, no script error and
    no request to another host (a preview is a local ``blob:``)."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    errors, urls = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: urls.append(request.url))
    page.add_init_script(RECORD_FIELDS)
    page.goto(server + "/")
    page.wait_for_selector("#model .model-item")
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"
    foreign = [url for url in urls if not url.startswith((server + "/", "blob:", "data:"))]
    assert not foreign, f"requests to another host: {foreign}"


@pytest.fixture()
def page(browser, server):
    with opened(browser, server, DESKTOP) as page:
        yield page


@pytest.fixture()
def phone(browser, server):
    with opened(browser, server, PHONE) as page:
        yield page


def predict(page, action) -> dict[str, str]:
    """Run ``action`` (it sends a file), wait until the page shows the answer; the form fields
    sent beside the file."""
    with page.expect_request("**/v1/predict") as sent:
        action()
    page.wait_for_function(
        "['Done', ''].includes(document.querySelector('#status').textContent.slice(0, 4))", timeout=30_000
    )
    assert sent.value.method == "POST"
    return page.evaluate("window.sentFields.at(-1)")


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def check_bars(page) -> list[float]:
    """One bar per class, shares summing to 100 %; the bars' widths in px."""
    assert page.locator("#probs .bar .name").all_text_contents() == CLASSES
    shares = [float(t.rstrip("%")) for t in page.locator("#probs .bar .pct").all_text_contents()]
    assert sum(shares) == pytest.approx(100, abs=0.3)
    return page.eval_on_selector_all("#probs .track", "els => els.map(e => e.getBoundingClientRect().width)")


def timeline(page) -> dict:
    """Where the timeline's areas and label band lie, and its axes (SVG user units)."""
    return page.evaluate(
        """() => {
        const q = (s) => [...document.querySelectorAll('#timeline ' + s)];
        const box = (el) => { const b = el.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
        const grid = q('g.grid line');  // the 0 % line first, the 100 % line fifth
        const axis = q('line.axis')[0];
        return {
            classes: q('path.area').map((el) => el.dataset.class),
            areas: q('path.area').map(box),
            band: q('.band rect').map(box),
            x: [+axis.getAttribute('x1'), +axis.getAttribute('x2')],
            y: [+grid[0].getAttribute('y1'), +grid[4].getAttribute('y1')],
        };
    }"""
    )


def check_stacked(page, num_pieces: int) -> None:
    """Stacked areas, one per class, each over the whole time axis (first start to last end),
    filling 0–100 % together; a label band of one span per piece of time between window starts
    and ends (overlapping windows share pieces), covering the axis."""
    drawn = timeline(page)
    assert drawn["classes"] == CLASSES
    (left, right), (zero, full) = drawn["x"], drawn["y"]
    for x0, _, x1, _ in drawn["areas"]:
        assert (x0, x1) == (pytest.approx(left, abs=1), pytest.approx(right, abs=1))
    assert min(a[1] for a in drawn["areas"]) == pytest.approx(full, abs=1)
    assert max(a[3] for a in drawn["areas"]) == pytest.approx(zero, abs=1)
    band = sorted(drawn["band"])
    assert len(band) == num_pieces
    assert band[0][0] == pytest.approx(left, abs=1) and band[-1][2] == pytest.approx(right, abs=1)
    assert all(a[2] == pytest.approx(b[0], abs=1) for a, b in zip(band, band[1:]))


def window_spans(page) -> list[tuple[float, float]]:
    rows = page.locator("#timeline table tbody tr")
    cells = [rows.nth(i).locator("td").all_text_contents() for i in range(rows.count())]
    return [(float(start), float(end)) for start, end, *_ in cells]


def test_one_upload_control_previews_the_image_and_shows_its_result(page, tmp_path):
    assert page.locator("input[type=file]").count() == 1
    box = page.locator("#file").bounding_box()
    assert box is None or box["width"] <= 1, "the file input is hidden: its label is the control"
    assert page.locator("label[for=file]").count() == 1
    assert page.locator("#preview").is_hidden()
    assert "group-level output only; nothing is stored" in page.text_content("body")

    image = good_png(tmp_path, "group.png")

    def choose():
        with page.expect_file_chooser() as chooser:
            page.click("#choose")
        chooser.value.set_files(image)

    assert predict(page, choose) == {}  # empty window and stride: the model's own
    preview = page.locator("#preview img")
    assert preview.get_attribute("src").startswith("blob:")
    assert preview.evaluate("img => img.complete && img.naturalWidth") == 64
    assert page.text_content("#preview-name").startswith("group.png")
    assert page.is_hidden("#error")
    assert page.text_content("#label").strip() in CLASSES
    assert min(check_bars(page)) > 400
    assert page.locator("#timeline svg").count() == 0  # an image has no timeline
    assert "drawn scenes" in page.text_content("#result-caveat")
    shot(page, "desktop-image")


def test_the_caveat_and_the_model_card_as_html(page):
    caveat = page.locator("#caveat")
    assert caveat.is_visible() and "drawn scenes" in caveat.text_content()
    page.click("#model-card summary")
    card = page.locator("#model-card-body")
    assert card.is_visible()
    assert card.locator("h1").text_content() == "Tiny model"
    assert card.locator("h2").text_content() == "Results"
    assert card.locator("table td").all_text_contents() == ["test", "not evaluated"]
    assert card.locator("li code").all_text_contents() == CLASSES
    text = card.text_content()
    assert "#" not in text and "|" not in text and "vemd-card" not in text and "`" not in text
    assert card.locator("script").count() == 0 and page.title() != "injected"


def test_window_and_stride_are_sent_and_the_timeline_stacks_the_windows(page, tmp_path):
    clip = video(tmp_path, SECONDS * FPS, "clip.mp4", fps=FPS, noise=True, codec="libx264")
    assert page.get_attribute("#window", "placeholder") == "1"  # the server's window
    page.fill("#window", "2")
    page.fill("#stride", "1")
    assert predict(page, lambda: page.set_input_files("#file", clip)) == {"window": "2", "stride": "1"}
    page.wait_for_function("document.querySelector('#preview video').readyState >= 1")
    assert page.text_content("#label").strip() in CLASSES
    assert window_spans(page) == [(0, 2), (1, 3), (2, 4)]
    check_stacked(page, 4)  # 0–1 s, 1–2 s (two windows' mean), 2–3 s, 3–4 s
    shot(page, "desktop-video")

    # "Apply" sends the same file again; a window longer than the clip gives one window over it all
    page.fill("#window", "10")
    page.fill("#stride", "")
    assert predict(page, lambda: page.click("#apply")) == {"window": "10"}
    assert window_spans(page) == [(0, SECONDS)]
    check_stacked(page, 1)
    assert page.locator("#timeline .legend li").all_text_contents() == CLASSES
    shot(page, "desktop-video-one-window")


def test_a_phone_width_keeps_the_bars_and_the_timeline_readable(phone, tmp_path):
    image = good_png(tmp_path, "group.png")
    clip = video(tmp_path, SECONDS * FPS, "clip.mp4", fps=FPS, noise=True, codec="libx264")
    for path, name in ((image, "phone-image"), (clip, "phone-video")):
        predict(phone, lambda path=path: phone.set_input_files("#file", path))
        assert min(check_bars(phone)) > 0.75 * PHONE, "the bars take the phone's width"
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE, "nothing wider than the page"
        shot(phone, name)
    assert window_spans(phone) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    check_stacked(phone, SECONDS)
    chart = phone.locator("#timeline svg").bounding_box()
    assert chart["x"] >= 0 and chart["x"] + chart["width"] <= PHONE and chart["width"] > 0.75 * PHONE


def test_an_error_replaces_the_result(page, tmp_path):
    predict(page, lambda: page.set_input_files("#file", good_png(tmp_path)))
    assert page.is_visible("#result")
    broken = text_named_jpg(tmp_path, "notes.jpg")
    predict(page, lambda: page.set_input_files("#file", broken))
    page.wait_for_selector("#error", state="visible")
    message = page.text_content("#error")
    assert message.startswith("notes.jpg: ") and "\n" not in message.strip(), message
    assert page.is_hidden("#result")
    assert page.text_content("#label") == "" and page.text_content("#probs") == ""
    assert page.locator("#timeline svg").count() == 0
    assert page.text_content("#preview-name").startswith("notes.jpg")
    shot(page, "desktop-error")
