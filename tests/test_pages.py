"""The pages people see: the demo shop, its frame, the overview, the cookie declaration, the guide.

Pages are read as a browser would (parsed HTML, the headers that govern them); what they
do in a browser is proven by the browser tests.
"""

import base64
import hashlib
import re
import tomllib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from consent.site_config import COOKIE_NAME
from consent.sites import CONSENT_MODE_TYPES, Site, load_sites
from consentry.guide import render_markdown

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
DEMO_SCRIPTS = {
    "analytics": "/static/demo/analytics.js",
    "marketing": "/static/demo/marketing.js",
    "preferences": "/static/demo/preferences.js",
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


class Page(HTMLParser):
    """Every element of a page with its attributes; scripts, headings, cells with their text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag in ("script", "h1", "h2", "th", "td", "a", "button", "title"):
            self._open.append(element)

    def handle_endtag(self, tag):
        if self._open and self._open[-1].tag == tag:
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            element.text += data

    def find(self, tag: str, **attrs: str | None) -> list[Element]:
        """Elements with this tag whose attributes have these values (None: present, any value)."""
        return [
            e
            for e in self.elements
            if e.tag == tag
            and all(
                name.replace("_", "-") in e.attrs
                and (value is None or e.attrs[name.replace("_", "-")] == value)
                for name, value in attrs.items()
            )
        ]


def _page(response) -> Page:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/html"
    page = Page()
    page.feed(response.get_data(as_text=True))
    return page


def _policy(response) -> dict[str, list[str]]:
    directives = response.headers["Content-Security-Policy"].split(";")
    return {name: values for name, *values in (d.split() for d in directives if d.strip())}


# --- the demo shop -----------------------------------------------------------------------


def test_the_shop_embeds_the_banner_as_a_customer_would(client):
    page = _page(client.get("/"))

    [banner] = page.find("script", src="/consent.js")
    assert banner.attrs == {"src": "/consent.js", "data-site": "demo", "defer": None}
    [panel] = page.find("script", src="/static/demo/panel.js")
    assert "type" not in panel.attrs  # necessary: it runs at once
    assert page.elements.index(banner) < page.elements.index(panel)  # Consentry first

    gated = page.find("script", type="text/plain")
    external = {e.attrs["data-category"]: e.attrs.get("src") for e in gated if "src" in e.attrs}
    assert external == DEMO_SCRIPTS
    [inline] = [e for e in gated if "src" not in e.attrs]
    assert inline.attrs["data-category"] == "analytics"
    assert "__demoRuns" in inline.text

    [frame] = page.find("iframe", data_category="marketing")
    assert frame.attrs["data-src"] == "/demo/embed"
    assert "src" not in frame.attrs  # nothing loads before consent
    assert frame.attrs["title"]

    # A status badge for each gated thing, starting as blocked.
    badges = {e.attrs["data-demo-status"]: e for e in page.find("span", data_demo_status=None)}
    assert set(badges) == {"analytics", "inline", "marketing", "preferences", "embed", "beacon"}
    assert {b.attrs["data-state"] for b in badges.values()} == {"blocked"}

    assert page.find("button", data_consentry_settings=None)
    links = {e.attrs["href"] for e in page.find("a", href=None)}
    assert {"/sites/demo/cookies", "/docs/api", "/docs/embedding", "/overview"} <= links


def test_the_shop_loads_nothing_from_another_host(client):
    html = client.get("/").get_data(as_text=True)
    assert "://" not in html
    page = _page(client.get("/"))
    for element in page.elements:
        for name in ("src", "href", "data-src"):
            value = element.attrs.get(name)
            if value is not None:
                assert value.startswith(("/", "#", "?")), (element.tag, value)
    for asset in sorted((ROOT / "static" / "demo").iterdir()):
        # An SVG names its XML namespace with a URL that is never fetched.
        text = asset.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?:|//[a-z]|@import|url\(", text), asset.name


def test_the_shop_policy_allows_this_origin_and_the_inline_snippet_by_its_hash(client):
    response = client.get("/")
    policy = _policy(response)
    [inline] = [
        e for e in _page(response).find("script", type="text/plain") if "src" not in e.attrs
    ]
    digest = base64.b64encode(hashlib.sha256(inline.text.encode()).digest()).decode()

    assert policy["default-src"] == ["'self'"]  # frames, fetches, images: this origin only
    assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("category", sorted(DEMO_SCRIPTS))
def test_each_demo_tag_counts_its_runs_and_sets_only_cookies_its_category_declares(
    client, app, category
):
    with client.get(DEMO_SCRIPTS[category]) as response:
        assert response.status_code == 200
        script = response.get_data(as_text=True)
    assert f"runs.{category} = (runs.{category} || 0) + 1" in script
    assert f'[data-demo-status="{category}"]' in script

    set_names = re.findall(r'document\.cookie = "([^="]+)=', script)
    demo = app.extensions["sites"].get("demo")
    declared = demo.categories[category].cookies
    expected = {"analytics": ["_ga", "_ga_DEMO"], "marketing": ["_fbp"], "preferences": ["lang"]}
    assert set_names == expected[category]
    for name in set_names:
        assert any(cookie.matches(name) for cookie in declared), name


def test_the_embedded_frame_sets_a_marketing_cookie_and_may_be_framed_only_here(client, app):
    response = client.get("/demo/embed")
    page = _page(response)
    assert _policy(response)["frame-ancestors"] == ["'self'"]
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"

    [script] = page.find("script", src="/static/demo/embed.js")
    with client.get(script.attrs["src"]) as served:
        embed = served.get_data(as_text=True)
    [name] = re.findall(r'document\.cookie = "([^="]+)=', embed)
    marketing = app.extensions["sites"].get("demo").categories["marketing"].cookies
    assert [c.type for c in marketing if c.matches(name)] == ["session"]
    assert "window.location.origin" in embed  # it tells only this origin that it loaded


@pytest.mark.parametrize(
    ("query", "expected"),
    [("?lang=de", "de"), ("?lang=xx", None), ('?lang="><script>', None), ("", None)],
)
def test_the_banner_language_can_be_picked_from_the_sites_languages_only(client, query, expected):
    page = _page(client.get("/" + query))
    [banner] = page.find("script", src="/consent.js")
    assert banner.attrs.get("data-lang") == expected
    assert len(page.find("script")) == 6  # nothing was injected


def test_the_shop_shows_the_page_view_beacon_the_app_serves(client):
    [badge] = _page(client.get("/")).find("span", data_demo_status="beacon")
    assert badge.attrs["data-path"] == "/b/demo.gif"
    assert client.get("/b/demo.gif").mimetype == "image/gif"


# --- the overview ------------------------------------------------------------------------


def test_the_overview_lists_every_configured_site(make_app):
    app = make_app(SITES_FILE=str(DATA / "shop_sites.toml"))
    html = app.test_client().get("/overview").get_data(as_text=True)
    page = _page(app.test_client().get("/overview"))
    for site in app.extensions["sites"].sites.values():
        assert f"<code>{site.id}</code>" in html
        assert site.policy_version in html
        assert page.find("a", href=f"/api/v1/sites/{site.id}/config")
        assert page.find("a", href=f"/sites/{site.id}/cookies")
    assert page.find("a", href="/")  # back to the demo shop


# --- the cookie declaration --------------------------------------------------------------


def _rows(page: Page) -> dict[str, list[str]]:
    """Each declared cookie's row: its cells' texts, by cookie name."""
    rows: dict[str, list[str]] = {}
    current = None
    for element in page.elements:
        if element.tag == "tr" and "data-cookie" in element.attrs:
            current = rows.setdefault(str(element.attrs["data-cookie"]), [])
        elif element.tag in ("th", "td") and current is not None:
            current.append(element.text.strip())
        elif element.tag == "tr":
            current = None
    return rows


def _categories(page: Page) -> list[str]:
    return [str(e.attrs["aria-labelledby"]).removeprefix("category-") for e in page.find("section")]


def test_the_declaration_lists_every_declared_cookie_by_category(client, app):
    response = client.get("/sites/demo/cookies")
    page = _page(response)
    site: Site = app.extensions["sites"].get("demo")

    [html] = page.find("html")
    assert html.attrs["lang"] == "en"
    assert _categories(page) == list(site.categories)
    rows = _rows(page)
    declared = [c for category in site.categories.values() for c in category.cookies]
    assert set(rows) == {c.name for c in declared}
    for cookie in declared:
        kind = {"session": "Session", "persistent": "Persistent"}[cookie.type]
        assert rows[cookie.name] == [
            cookie.name,
            cookie.provider,
            cookie.purpose,
            kind,
            cookie.duration,
        ]
    for category_id in site.categories:
        [heading] = page.find("h2", id=f"category-{category_id}")
        assert site.texts["en"].categories[category_id].title in heading.text

    text = response.get_data(as_text=True)
    assert site.policy_version in text
    assert "deleted when you close your browser" in text
    assert "stays on your device for the duration" in text
    assert response.vary.as_set() >= {"accept-language"}


def test_the_declaration_is_accessible_tables(client):
    page = _page(client.get("/sites/demo/cookies"))
    assert len(page.find("h1")) == 1
    headers = page.find("th")
    assert headers
    assert all(h.attrs.get("scope") in ("col", "row") for h in headers)
    assert len(page.find("th", scope="row")) == len(_rows(page))


def test_the_declaration_reopens_the_preferences_with_the_banner(client):
    page = _page(client.get("/sites/demo/cookies?lang=fr"))
    [banner] = page.find("script", src="/consent.js")
    assert (banner.attrs["data-site"], banner.attrs["data-lang"]) == ("demo", "fr")
    [button] = page.find("button", data_consentry_settings=None)
    assert button.text.strip() == "Paramètres des cookies"


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?lang=de", {}), ("", {"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})],
)
def test_the_declaration_speaks_the_visitors_language(client, query, headers):
    response = client.get("/sites/demo/cookies" + query, headers=headers)
    page = _page(response)
    text = response.get_data(as_text=True)
    [html] = page.find("html")
    assert html.attrs["lang"] == "de"
    [h1] = page.find("h1")
    assert h1.text.startswith("Cookie-Erklärung")
    assert "Unbedingt erforderlich" in text  # the site's own German texts
    assert _rows(page)["session"][3] == "Sitzung"
    assert _rows(page)["consentry"][3] == "Dauerhaft"
    assert "Version der Richtlinie" in text


def test_a_language_the_site_lacks_falls_back_to_its_default(client):
    page = _page(client.get("/sites/demo/cookies?lang=pt", headers={"Accept-Language": "ja"}))
    assert page.find("html")[0].attrs["lang"] == "en"
    assert page.find("h1")[0].text.startswith("Cookie declaration")


def test_a_site_that_does_not_allow_this_origin_gets_no_banner_here(make_app):
    app = make_app(SITES_FILE=str(DATA / "shop_sites.toml"))
    response = app.test_client().get("/sites/shop/cookies")
    page = _page(response)
    assert not page.find("script", src="/consent.js")
    assert not page.find("button", data_consentry_settings=None)
    assert "cookie settings link on Example shop" in response.get_data(as_text=True)
    # An absolute policy URL is linked; the demo's relative one (/privacy) is not.
    assert page.find("a", href="https://shop.example/privacy")


def test_an_unknown_site_has_no_declaration(client):
    response = client.get("/sites/nowhere/cookies")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<h1>404</h1>" in response.get_data(as_text=True)


# --- the embed guide ---------------------------------------------------------------------

GUIDE = ROOT / "docs" / "embedding.md"


def test_the_guide_is_served_as_a_page_with_working_anchors(client):
    response = client.get("/docs/embedding")
    page = _page(response)
    [h1] = page.find("h1")
    assert h1.text == "Embedding the Consentry banner"
    ids = {e.attrs["id"] for e in page.elements if "id" in e.attrs}
    contents = [e.attrs["href"] for e in page.find("a") if str(e.attrs["href"]).startswith("#")]
    assert len(contents) >= 6
    assert all(str(href)[1:] in ids for href in contents)
    # Markdown's HTML is shown, never run: no script or frame from the guide.
    assert not page.find("script")
    assert not page.find("iframe")
    assert "&lt;script src=&quot;https://consent.example.com/consent.js&quot;" in (
        response.get_data(as_text=True)
    )
    assert all(h.attrs.get("scope") == "col" for h in page.find("th"))


def test_the_readme_links_the_guide():
    assert "](docs/embedding.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_guides_annotated_sites_file_is_complete_and_loads(tmp_path):
    text = GUIDE.read_text(encoding="utf-8")
    [sites_file] = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    path = tmp_path / "sites.toml"
    path.write_text(sites_file, encoding="utf-8")

    [site] = load_sites(path).sites.values()
    written = tomllib.loads(sites_file)["sites"][site.id]
    documented = set(Site.model_fields) - {"id"}
    assert documented <= set(written), documented - set(written)
    assert set(site.consent_mode) == set(CONSENT_MODE_TYPES)
    assert {rule.model for rule in site.regions} == {"opt-in", "opt-out", "notice"}


def test_the_guide_names_what_the_code_uses():
    text = GUIDE.read_text(encoding="utf-8")
    for gcm_type in CONSENT_MODE_TYPES:
        assert f"`{gcm_type}`" in text
    assert f"cookie `{COOKIE_NAME}`" in text
    for attribute in ("data-site", "data-lang", "data-api", "data-consentry-settings"):
        assert f"`{attribute}`" in text


def test_markdown_html_in_the_guide_is_shown_as_text():
    doc = render_markdown(
        "# Title\n\n<script>alert(1)</script>\n\n## Next *part*\n\n| a |\n|---|\n| 1 |\n"
    )
    assert doc.title == "Title"
    assert "<script>" not in doc.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc.body
    assert '<h2 id="next-part">' in doc.body
    assert doc.contents == [("next-part", "Next part")]
    assert '<th scope="col">a</th>' in doc.body
