"""Rendering an email: exactly the right links wrapped, pixel before </body>, every other byte kept.

The corpus in tests/data/emails/ holds realistic marketing and transactional emails
(tables, inline styles, Outlook conditional comments and VML, image maps, non-ASCII text,
CRLF line ends, mailto/tel/sms links, anchors). Each has its expected output byte for byte
beside it (``*.expected.html``), and its list of wrapped URLs is written out here by hand.
Regenerate the expected files with ``CONSENTRY_REGENERATE=1`` and read their diff.
"""

import difflib
import os
import re
from html import unescape
from pathlib import Path

import pytest

from pixel.render import Tracking, honeypot_html, pixel_html, render

EMAILS = Path(__file__).parent / "data" / "emails"
UNSUBSCRIBE = "https://mail.example/u/UNSUBSCRIBE-TOKEN"
PIXEL = pixel_html("https://mail.example/o/OPEN-TOKEN.gif")
HONEYPOT = "https://mail.example/c/HONEYPOT-TOKEN"

# What each email's tracked links lead to, in document order: written by reading the email.
WRAPPED = {
    "newsletter_tables": [
        "https://northwind.example.com/newsletter/2026-12?view=web&utm_source=email",
        "https://northwind.example.com/?utm_campaign=dec",
        "https://northwind.example.com/lists/winter-2026",
        # The VML button inside <!--[if mso]> is a comment to the parser: left as written.
        "https://northwind.example.com/sale",
        "https://northwind.example.com/account/preferences",
    ],
    "receipt_de": [
        "https://buecherstube.example.de/artikel/9783499?ref=mail&lang=de",
        "https://buecherstube.example.de/artikel/9783423",
        "https://maps.example.com/?q=Ehrenstra%C3%9Fe+12,+K%C3%B6ln",
        "https://buecherstube.example.de/filialen/koeln",
        "https://buecherstube.example.de/filialen/bonn",
        "https://buecherstube.example.de/impressum",
    ],
    "promo_fr": [
        "https://boutique.example.fr/soldes?acces=anticipe&c=FR",
        "http://blog.boutique.example.fr/conseils-hiver",
        "https://instagram.example.com/boutique",
        "https://facebook.example.com/boutique",
    ],
    "shipping_ja": [
        "https://track.example.jp/status?no=1234-5678-9012&lang=ja",
        "HTTPS://SHOP.EXAMPLE.JP/mypage/orders",
    ],
    "digest_outlook": [
        "https://intranet.example.org/news/q4-results",
        "https://intranet.example.org/events?id=77&rsvp=1",
        "https://intranet.example.org/news/q4-results",
        "https://intranet.example.org/wiki/lists",
        "https://intranet.example.org/agenda.pdf",
    ],
}


def _tracking(seen: list[str]) -> Tracking:
    def wrap(url: str) -> str:
        seen.append(url)
        return f"https://mail.example/c/LINK-{len(seen)}"

    return Tracking(pixel_html=PIXEL, honeypot_url=HONEYPOT, wrap=wrap)


def _render_file(name: str, seen: list[str]) -> bytes:
    html = (EMAILS / f"{name}.html").read_bytes().decode("utf-8")
    return render(html, UNSUBSCRIBE, _tracking(seen)).encode("utf-8")


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_the_corpus_renders_byte_for_byte(name):
    seen: list[str] = []
    output = _render_file(name, seen)
    expected_path = EMAILS / f"{name}.expected.html"
    if os.environ.get("CONSENTRY_REGENERATE"):
        expected_path.write_bytes(output)
    expected = expected_path.read_bytes()
    if output != expected:
        diff = difflib.unified_diff(
            expected.decode().splitlines(), output.decode().splitlines(), lineterm=""
        )
        pytest.fail("\n".join(diff))
    assert seen == WRAPPED[name]


@pytest.mark.parametrize("name", sorted(WRAPPED))
def test_only_the_wrapped_hrefs_the_fill_and_the_insert_change(name):
    # An oracle apart from the splicing: take the insert out, cut the output at each
    # tracked URL, and find the pieces in the (filled) source in order: what lies between
    # them there must be exactly the hrefs listed above, and nothing else may differ.
    source = (EMAILS / f"{name}.html").read_bytes().decode("utf-8")
    seen: list[str] = []
    output = render(source, UNSUBSCRIBE, _tracking(seen))
    inserted = honeypot_html(HONEYPOT) + PIXEL
    assert output.count(inserted) == 1
    filled = _placeholders_as_nul(source).replace("\x00", UNSUBSCRIBE)
    pieces = re.split(r"https://mail\.example/c/LINK-\d+", output.replace(inserted, ""))
    assert filled.startswith(pieces[0])
    position, hrefs = len(pieces[0]), []
    for piece in pieces[1:]:
        found = filled.index(piece, position)
        hrefs.append(filled[position:found])
        position = found + len(piece)
    assert position == len(filled)
    assert [unescape(href).strip() for href in hrefs] == WRAPPED[name]


def _placeholders_as_nul(source: str) -> str:
    return source.replace("{{ unsubscribe_url }}", "\x00").replace("{{unsubscribe_url}}", "\x00")


def test_the_pixel_goes_right_before_the_last_body_end_tag():
    seen: list[str] = []
    html = "<html><body><p>Hi</p></body>\n</html>"
    assert render(html, UNSUBSCRIBE, _tracking(seen)) == (
        f"<html><body><p>Hi</p>{honeypot_html(HONEYPOT)}{PIXEL}</body>\n</html>"
    )


def test_without_a_body_end_tag_the_pixel_goes_at_the_end():
    seen: list[str] = []
    assert render("<p>Hi</p>", UNSUBSCRIBE, _tracking(seen)) == (
        f"<p>Hi</p>{honeypot_html(HONEYPOT)}{PIXEL}"
    )


def test_a_body_end_inside_a_comment_style_or_attribute_is_not_the_body_end():
    seen: list[str] = []
    html = '<style>/* </body> */</style><p title="</body>">x</p><!-- </body> -->'
    assert render(html, UNSUBSCRIBE, _tracking(seen)).endswith(PIXEL)


def test_untracked_mode_fills_the_unsubscribe_url_and_changes_nothing_else():
    source = (EMAILS / "newsletter_tables.html").read_text(encoding="utf-8")
    output = render(source, UNSUBSCRIBE, None)
    assert output == source.replace("{{ unsubscribe_url }}", UNSUBSCRIBE)
    assert '<img src="https://mail.example/o/' not in output


def test_the_unsubscribe_url_is_escaped_where_it_is_filled():
    output = render('<a href="{{ unsubscribe_url }}">x</a>', "https://m.example/u/a&b", None)
    assert output == '<a href="https://m.example/u/a&amp;b">x</a>'


@pytest.mark.parametrize(
    "link",
    [
        '<a href="mailto:ann@example.com">',
        '<a href="tel:+4930123456">',
        '<a href="sms:+4930123456">',
        '<a href="#top">',
        '<a href="/relative">',
        '<a href="javascript:alert(1)">',
        '<a href="data:text/html,x">',
        '<a href="ftp://files.example.com/x">',
        '<a href="">',
        "<a>",
        '<a name="top">',
        f'<a href="{UNSUBSCRIBE}">',
        '<a href="{{ unsubscribe_url }}">',
        '<link href="https://cdn.example.com/x.css">',
        '<img src="https://cdn.example.com/x.png">',
        '<v:roundrect href="https://example.com/outlook-button">',
    ],
)
def test_links_that_are_left_alone(link):
    seen: list[str] = []
    html = f"{link}x</a>"
    output = render(html, UNSUBSCRIBE, _tracking(seen))
    assert seen == []
    assert output.startswith(_placeholders_as_nul(html).replace("\x00", UNSUBSCRIBE))


@pytest.mark.parametrize(
    ("link", "url", "tracked"),
    [
        ('<a href="https://a.example/x">', "https://a.example/x", '<a href="T">'),
        ("<a href='https://a.example/x'>", "https://a.example/x", "<a href='T'>"),
        ("<a href=https://a.example/x>", "https://a.example/x", "<a href=T>"),
        ('<A HREF="HTTP://A.EXAMPLE/X">', "HTTP://A.EXAMPLE/X", '<A HREF="T">'),
        ('<a\nclass="b"\n  href = "https://a.example/x"\n>', "https://a.example/x",
         '<a\nclass="b"\n  href = "T"\n>'),
        ('<a data-href="https://no.example" href="https://a.example/x">', "https://a.example/x",
         '<a data-href="https://no.example" href="T">'),
        ('<a href="https://a.example/?a=1&amp;b=%20">', "https://a.example/?a=1&b=%20",
         '<a href="T">'),
        ('<a href="https://a.example/x" href="https://b.example/y">', "https://a.example/x",
         '<a href="T" href="https://b.example/y">'),
    ],
)  # fmt: skip
def test_how_a_link_is_wrapped(link, url, tracked):
    seen: list[str] = []
    tracking = Tracking(PIXEL, HONEYPOT, lambda u: seen.append(u) or "T")
    assert render(f"{link}x</a>", UNSUBSCRIBE, tracking).startswith(f"{tracked}x</a>")
    assert seen == [url]


def test_the_honeypot_is_hidden_from_people_and_assistive_technology():
    html = honeypot_html(HONEYPOT)
    assert 'aria-hidden="true"' in html
    assert 'tabindex="-1"' in html
    assert "display:none" in html
    assert "mso-hide:all" in html  # Outlook ignores display:none
    assert html.endswith("></a>")  # no text to see, read aloud or click
