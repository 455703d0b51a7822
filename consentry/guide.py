"""The embed guide (docs/embedding.md) as a page, so a running server documents itself.

The Markdown is ours, but it is rendered with raw HTML off all the same: the page keeps
the app's page policy and the guide stays plain Markdown that reads well on GitHub too.
"""

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, render_template
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

bp = Blueprint("guide", __name__)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "embedding.md"


def _slug(text: str) -> str:
    """A heading's anchor, as GitHub makes it: lowercase, spaces to dashes, no punctuation."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@dataclass(frozen=True)
class Document:
    title: str  # the first-level heading, shown by the page itself
    body: Markup  # everything after it
    contents: list[tuple[str, str]]  # (anchor, title) of each second-level heading


def render_markdown(text: str) -> Document:
    """Render a Markdown document that starts with its first-level heading.

    Headings get ids (links into the guide keep working) and table headers get a scope.
    """
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    if len(tokens) < 3 or tokens[0].tag != "h1":
        raise ValueError("the document must start with a first-level heading")
    title = _plain(tokens[1])
    tokens = tokens[3:]  # heading_open, inline, heading_close
    contents = []
    for token, following in itertools.pairwise(tokens):
        if token.type == "heading_open":
            heading = _plain(following)
            token.attrSet("id", _slug(heading))
            if token.tag == "h2":
                contents.append((_slug(heading), heading))
        elif token.type == "th_open":
            token.attrSet("scope", "col")
    # Raw HTML is off, so markdown-it escapes every piece of text it renders, and "<pre>"
    # can only be its own: a code block, made focusable so the keyboard can scroll it.
    html = md.renderer.render(tokens, md.options, {}).replace("<pre>", '<pre tabindex="0">')
    return Document(title, Markup(html), contents)  # noqa: S704


def _plain(inline: Token) -> str:
    return "".join(child.content for child in inline.children or [])


@lru_cache(maxsize=4)
def _rendered(path: Path, mtime_ns: int) -> Document:
    # Keyed by the file's mtime: an edited guide shows at the next request.
    return render_markdown(path.read_text(encoding="utf-8"))


@bp.get("/docs/embedding")
def embedding_page():
    """Show the guide to embedding the banner and configuring a site."""
    return render_template("demo/guide.html", doc=_rendered(GUIDE, GUIDE.stat().st_mtime_ns))
