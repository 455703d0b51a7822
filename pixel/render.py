"""Put a message's pixel, tracked links and unsubscribe URL into the HTML of its email.

The email is read with the standard library's HTML parser; the output is the input with
exactly these changes spliced in, every other byte as it was (a re-serialised document
would reflow whitespace, quotes and entities that email clients are picky about):

- ``{{ unsubscribe_url }}`` (or ``{{unsubscribe_url}}``) becomes the unsubscribe URL;
- the ``href`` of each ``<a>`` and ``<area>`` with an ``http(s)`` URL becomes a tracked
  link (the first ``href`` of a tag, the one browsers follow). ``mailto:``, ``tel:``,
  anchors, relative URLs and the unsubscribe link are left alone, and so is markup inside
  comments, Outlook's conditional comments included (their VML buttons stay as written);
- a hidden honeypot link and the pixel go before the last ``</body>`` (at the end when
  there is none). The honeypot is an empty, hidden anchor: no person sees or follows it,
  so whatever fetches it is a machine following every link (a security scanner).

In ``none`` mode only the unsubscribe URL is filled: no pixel, no honeypot, links as they are.
"""

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser, attrfind_tolerant, tagfind_tolerant  # type: ignore[attr-defined]

from werkzeug.urls import iri_to_uri

PLACEHOLDERS = ("{{ unsubscribe_url }}", "{{unsubscribe_url}}")
_LINK_TAGS = ("a", "area")
HONEYPOT_STYLE = (
    "display:none !important;visibility:hidden;mso-hide:all;font-size:0;line-height:0;"
    "max-height:0;max-width:0;overflow:hidden;opacity:0"
)


@dataclass(frozen=True)
class Tracking:
    """How to rewrite one email: the URLs of its pixel and honeypot, and how to wrap a link."""

    pixel_html: str
    honeypot_url: str
    wrap: Callable[[str], str]  # a link's URL -> its tracked URL


def pixel_html(pixel_url: str) -> str:
    """The 1x1 image that reports an open: no border, no space, no alt text read aloud."""
    return (
        f'<img src="{escape(pixel_url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
    )


def honeypot_html(url: str) -> str:
    """An anchor no person can see, click or hear: only machines follow it."""
    return f'<a href="{escape(url)}" style="{HONEYPOT_STYLE}" aria-hidden="true" tabindex="-1"></a>'


def render(html: str, unsubscribe_url: str, tracking: Tracking | None) -> str:
    """Return ``html`` with the unsubscribe URL filled and, when tracked, pixel and links."""
    for placeholder in PLACEHOLDERS:
        html = html.replace(placeholder, escape(unsubscribe_url))
    if tracking is None:
        return html
    finder = _Finder(html, unsubscribe_url)
    finder.feed(html)
    finder.close()
    splices = [(start, end, tracking.wrap(url)) for start, end, url in finder.links]
    at = finder.body_end if finder.body_end is not None else len(html)
    splices.append((at, at, honeypot_html(tracking.honeypot_url) + tracking.pixel_html))
    parts, done = [], 0
    for start, end, text in sorted(splices, key=lambda s: (s[0], s[1])):
        parts += [html[done:start], text]
        done = end
    parts.append(html[done:])
    return "".join(parts)


class _Finder(HTMLParser):
    """Collect where the links to wrap and the last ``</body>`` are, as offsets in the source."""

    def __init__(self, html: str, unsubscribe_url: str):
        super().__init__(convert_charrefs=True)
        self._unsubscribe_url = unsubscribe_url
        # getpos() answers (line, column); lines end at "\n" only, as the parser counts them.
        self._line_starts = [0]
        at = html.find("\n")
        while at != -1:
            self._line_starts.append(at + 1)
            at = html.find("\n", at + 1)
        self.links: list[tuple[int, int, str]] = []  # (start, end, URL) of each href value
        self.body_end: int | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _LINK_TAGS:
            return
        href = next((value for name, value in attrs if name == "href"), None)
        if href is None or not _trackable(href.strip(), self._unsubscribe_url):
            return
        raw = self.get_starttag_text() or ""
        span = _first_href_value(raw)
        if span is not None:
            start = self._offset()
            self.links.append((start + span[0], start + span[1], href.strip()))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self._offset()


def _trackable(url: str, unsubscribe_url: str) -> bool:
    return (
        url.lower().startswith(("http://", "https://"))
        and url != unsubscribe_url
        and _redirectable(url)
    )


def _redirectable(url: str) -> bool:
    """Whether ``/c/`` could redirect to the URL (not ``https://x.com:99999/``, say)."""
    try:
        iri_to_uri(url)
    except ValueError:
        return False
    return True


def _first_href_value(tag_text: str) -> tuple[int, int] | None:
    """Where the first ``href``'s value is in a start tag's text (inside its quotes).

    Scanned with the parser's own patterns for tag names and attributes, so it finds the
    attribute the parser read.
    """
    match = tagfind_tolerant.match(tag_text, 1)
    k = match.end() if match else 1
    while k < len(tag_text):
        attr = attrfind_tolerant.match(tag_text, k)
        if not attr or attr.end() == k:
            break
        if attr.group(1).lower() == "href" and attr.group(3) is not None:
            start, end = attr.span(3)
            if tag_text[start : start + 1] in ("'", '"'):
                start, end = start + 1, end - 1
            return start, end
        k = attr.end()
    return None
