"""MkDocs hook: vemd's docstrings use Sphinx roles (:class:`~vemd.x.Y`, :func:`load`) and RST's
``text::`` before a literal block; rendered as Markdown by mkdocstrings, those show as
``:class:`` followed by code. This hook drops the role, shortens ``~a.b.C`` to ``C`` as Sphinx
does, and turns a paragraph's closing ``::`` into ``:``."""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc|obj):(<code>)(~?)([\w.]+)(</code>)")
LITERAL_BLOCK = re.compile(r"::</p>")


def _role(match: re.Match) -> str:
    opening, tilde, name, closing = match.groups()
    return f"{opening}{name.rsplit('.', 1)[-1] if tilde else name}{closing}"


def on_page_content(html: str, **_) -> str:
    return LITERAL_BLOCK.sub(":</p>", ROLE.sub(_role, html))
