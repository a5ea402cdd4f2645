"""``vemd serve`` sends nothing that makes a browser fetch from another host: every page and
asset it serves (each GET route, each file under ``/static``) is read, and any URL of another
host in it (``https://cdn…``, ``//cdn…``) fails the test. FastAPI's ``/docs`` and ``/redoc``
(Swagger UI and ReDoc from a CDN) are off; ``/openapi.json`` stays.

test_page.py checks the same in the browser: every request the page makes goes to the server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

fastapi = pytest.importorskip("fastapi", reason="fastapi is not installed (extra 'serve')")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from vemd.serve.app import create_app  # noqa: E402

# An absolute or protocol-relative URL naming a host: //cdn.example.org/…, https://localhost:8000
EXTERNAL_URL = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]*:)?//(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+)\b[^\s\"'`)<>]*", re.I
)
# XML namespace names: identifiers (document.createElementNS), never fetched
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml", "http://www.w3.org/1999/xlink")
TEXT_TYPES = ("text/", "application/javascript", "application/json")


@pytest.fixture(scope="module")
def app(model_file):
    return create_app(model_file, max_concurrent=1, precision="fp32")  # fp32: no bf16 timing at start


def served_paths(app) -> list[str]:
    """Every GET route without a path parameter, and every file under each static mount."""
    paths = []
    for route in app.routes:
        if isinstance(route, Mount):
            folder = Path(route.app.directory)
            paths += [
                f"{route.path}/{p.relative_to(folder).as_posix()}"
                for p in sorted(folder.rglob("*"))
                if p.is_file()
            ]
        elif "GET" in (getattr(route, "methods", None) or ()) and "{" not in route.path:
            paths.append(route.path)
    return paths


def external_urls(text: str) -> list[str]:
    for name in NAMESPACES:
        text = text.replace(name, "")
    return EXTERNAL_URL.findall(text)


def test_external_urls_are_found():
    page = '<script src="https://cdn.jsdelivr.net/npm/x.js"></script><link href="//fonts.example.com/a.css">'
    assert external_urls(page) == ["https://cdn.jsdelivr.net/npm/x.js", "//fonts.example.com/a.css"]
    assert external_urls("@import url(http://localhost:9000/x.css);") == ["http://localhost:9000/x.css"]
    css_js = 'const NS = "http://www.w3.org/2000/svg"; // a comment\nfetch("/v1/model"); a { b: url(/static/x.png) }'
    assert external_urls(css_js) == []


def test_nothing_served_loads_from_another_host(app):
    paths = served_paths(app)
    assert {
        "/",
        "/openapi.json",
        "/v1/model",
        "/static/index.html",
        "/static/app.js",
        "/static/style.css",
    } <= set(paths)
    with TestClient(app) as client:
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, f"{path}: {response.status_code}"
            kind = response.headers.get("content-type", "")
            assert kind.startswith(TEXT_TYPES), f"{path}: {kind}"
            assert external_urls(response.text) == [], f"{path} loads from another host"


def test_the_api_is_described_at_openapi_json_without_a_cdn_viewer(app):
    with TestClient(app) as client:
        for viewer in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert client.get(viewer).status_code == 404, viewer
        assert "/v1/predict" in client.get("/openapi.json").json()["paths"]
