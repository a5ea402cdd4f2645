"""The model card as HTML for the page: ``MODEL_CARD.md`` rendered by markdown-it-py.

The card's YAML metadata (the front matter :mod:`vemd.card` writes) is not shown. Safe to insert
into the page: raw HTML in the card (the facts comment of a card an earlier vemd wrote, or
anything a card's author wrote) is dropped, never passed through; text is escaped;
markdown-it refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` links. An image is
shown as its alt text, so the page loads nothing from another host, and a link sends no
referrer when followed.
"""

from __future__ import annotations

from huggingface_hub.repocard import REGEX_YAML_BLOCK
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

__all__ = ["card_html"]


def card_html(markdown: str) -> str:
    """HTML of ``markdown`` (CommonMark with tables) without its front matter: a fragment of block
    elements."""
    # the Hub's own rule for where a card's metadata ends, so that both read the same block
    return _RENDERER.render(REGEX_YAML_BLOCK.sub("", markdown, count=1))


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
