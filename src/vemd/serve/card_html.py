"""The model card as HTML for the page: ``MODEL_CARD.md`` rendered by markdown-it-py.

Safe to insert into the page: raw HTML in the card (the facts comment :mod:`vemd.card` keeps
there, or anything a card's author wrote) is dropped, never passed through; text is escaped;
markdown-it refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` links. An image is
shown as its alt text, so the page loads nothing from another host, and a link sends no
referrer when followed.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

__all__ = ["card_html"]


def card_html(markdown: str) -> str:
    """HTML of ``markdown`` (CommonMark with tables): a fragment of block elements."""
    return _RENDERER.render(markdown)


def _dropped(self, tokens, idx, options, env) -> str:
    return ""


def _image_as_text(self, tokens, idx, options, env) -> str:
    return escapeHtml(self.renderInlineAsText(tokens[idx].children or [], options, env))


def _link_open(self, tokens, idx, options, env) -> str:
    tokens[idx].attrSet("rel", "noreferrer")
    return self.renderToken(tokens, idx, options, env)


def _renderer() -> MarkdownIt:
    # html parsed (so that a comment is one token, not text) and then rendered as nothing
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    for rule, render in (
        ("html_block", _dropped),
        ("html_inline", _dropped),
        ("image", _image_as_text),
        ("link_open", _link_open),
    ):
        md.add_render_rule(rule, render)
    return md


_RENDERER = _renderer()
