"""The README is a short door into the documentation site, and the site is checked against its
sources: the README's links resolve, its Python example is the one the API page shows (and
``tests/inference/test_api.py`` runs), every ``vemd`` command has a row on the commands page,
every measured figure names the command that measures it (that the recipes, scripts and modules
the pages name exist: ``tests/configs/test_recipe_references.py``), and the site builds with
``mkdocs build --strict``, offline: no asset from another host."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vemd.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_readme_is_a_door_that_opens_on_the_two_commands():
    assert len(README.encode()) <= 12 * 1024
    assert README.startswith("# vemd\n\n```\nmake demo\nmake test\n```\n")
    assert re.search(r"arxiv\.org/abs/\d{4}\.\d{5}", README)  # the VE-MD paper, cited with its link
    internal = re.findall(r"\bSPEC\b|SPEC\.md|\bseed \d{3}\b|seeds/", README)
    assert internal == [], f"project-internal references in README.md: {internal}"
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")  # CI runs the README's command


def test_the_readme_links_resolve():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local, "the README links to no page"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert missing == [], f"README.md links to missing files: {missing}"
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md", "changelog.md"}
    unlinked = sorted(p for p in pages if f"docs/{p}" not in local)
    assert unlinked == [], f"docs pages the README does not link to: {unlinked}"


def test_the_api_page_shows_the_readme_example():
    readme_example = _python_blocks(README[README.index("## Python API") :])[0]
    assert _python_blocks((DOCS / "api.md").read_text(encoding="utf-8"))[0] == readme_example


def test_every_command_has_a_row_on_the_commands_page():
    page = (DOCS / "commands.md").read_text(encoding="utf-8")
    missing = [name for name in COMMANDS if f"| `vemd {name}" not in page]
    assert missing == [], f"commands without a row in docs/commands.md: {missing}"


def test_every_figure_names_the_command_that_measures_it():
    rows = [
        line
        for line in (DOCS / "figures.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and not line.startswith(("| what ", "|---"))
    ]
    assert len(rows) >= 10
    for row in rows:
        command = row.rstrip(" |").rsplit(" | ", 1)[-1]
        assert re.search(r"`[^`]*(vemd |benchmarks/|pytest)", command), f"a figure without its command: {row}"


class _ExternalAssets(HTMLParser):
    """Collects what a page would fetch from another host: script, style, image and frame sources
    (a link to another site, ``<a href>``, fetches nothing)."""

    FETCHED = {"script": "src", "img": "src", "iframe": "src", "source": "src", "link": "href"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        value = dict(attrs).get(self.FETCHED.get(tag, ""))
        if value and re.match(r"(https?:)?//", value):
            self.found.append(f"<{tag}> {value}")


def test_the_site_builds_strictly_and_fetches_nothing_from_other_hosts(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the docs extra is not installed")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (site / "api" / "index.html").read_text(encoding="utf-8").count('class="doc doc-heading"') >= 8
    external = []
    for page in site.rglob("*.html"):
        parser = _ExternalAssets()
        parser.feed(page.read_text(encoding="utf-8"))
        external += [f"{page.relative_to(site)}: {found}" for found in parser.found]
    for sheet in site.rglob("*.css"):
        css = sheet.read_text(encoding="utf-8")
        urls = re.findall(r"(?:url\(|@import)\s*['\"]?((?:https?:)?//[^'\")\s]+)", css)
        external += [f"{sheet.relative_to(site)}: {url}" for url in urls]
    for path in site.rglob("*"):
        if path.suffix in (".html", ".css", ".js") and "fonts.googleapis" in path.read_text(encoding="utf-8"):
            external.append(f"{path.relative_to(site)}: Google Fonts")
    assert external == []
