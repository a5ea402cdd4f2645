"""The model card as HTML (:mod:`vemd.serve.card_html`): the card's Markdown rendered, and
nothing the page would run or fetch (raw HTML, ``javascript:`` links, images from anywhere)."""

from __future__ import annotations

import pytest
from tests.models.helpers import tiny_config

from vemd.card import fit_facts, render

pytest.importorskip("markdown_it", reason="markdown-it-py is not installed (extra 'serve')")
from vemd.serve.card_html import card_html  # noqa: E402


def test_a_card_renders_headings_lists_tables_and_code():
    html = card_html("# Model card\n\n- Dataset `synth`\n\n| split | UAR |\n|---|---|\n| test | 0.5 |\n")
    assert "<h1>Model card</h1>" in html
    assert "<li>Dataset <code>synth</code></li>" in html
    assert "<th>split</th>" in html and "<td>0.5</td>" in html


def test_raw_html_and_the_facts_comment_are_dropped():
    markdown = (
        "Text <b onclick='x()'>bold</b>\n\n<script>alert(1)</script>\n\n"
        '<img src=x onerror=alert(1)>\n\n<!-- vemd-card {"a": 1} -->\n'
    )
    html = card_html(markdown)
    assert html == "<p>Text bold</p>\n"


def test_links_are_kept_safe_and_images_become_their_alt_text():
    html = card_html(
        "[paper](https://example.org/p) [x](javascript:alert(1)) ![a *drawn* scene](https://cdn.example/i.png)"
    )
    assert '<a href="https://example.org/p" rel="noreferrer">paper</a>' in html
    assert "[x](javascript:alert(1))" in html and 'href="javascript' not in html  # text, not a link
    assert "a drawn scene" in html and "<img" not in html and "cdn.example" not in html


def test_text_is_escaped():
    assert card_html("1 < 2 & a > b") == "<p>1 &lt; 2 &amp; a &gt; b</p>\n"


def test_the_card_vemd_writes_renders_without_its_metadata():
    facts = fit_facts(tiny_config(), ["a", "b", "c"], sizes={"train": 4}, validation={"monitor": "val/uar"})
    html = card_html(render(facts))
    assert html.startswith("<h1>Model card</h1>\n")  # no rule, no YAML shown as text above it
    assert "library_name" not in html and "vemd_version" not in html and "<hr" not in html
    assert "<h2>Results</h2>" in html and "<table>" in html and "|---" not in html


def test_only_a_leading_front_matter_is_dropped():
    html = card_html("---\ntags: [a]\n---\n\n# Card\n\nabove\n\n---\n\nbelow\n")
    assert html == "<h1>Card</h1>\n<p>above</p>\n<hr />\n<p>below</p>\n"
