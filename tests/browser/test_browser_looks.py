"""What the visitor reads and sees: the texts in each language, the fallback for a missing
one, and screenshots of the banner and the dialog on a desktop and on a phone.

Screenshots go to tests/browser/screenshots/ (not committed); reproduce them with
``.venv/bin/pytest tests/browser/test_browser_looks.py -k screenshots``.
"""

import tomllib
from pathlib import Path

import pytest
from banner_page import Banner, shop
from browser_support import BUNDLED_SITES, LAB_SITES
from playwright.sync_api import expect

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DEMO_TEXTS = tomllib.loads(BUNDLED_SITES.read_text())["sites"]["demo"]["texts"]
LAB_TEXTS = tomllib.loads(LAB_SITES.read_text())["sites"]["lab"]["texts"]
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def assert_texts(banner: Banner, texts: dict) -> None:
    expect(banner.first_layer).to_contain_text(texts["title"])
    for name in ("accept_all", "reject_all", "manage"):
        expect(banner.button(name)).to_have_text(texts[name])


@pytest.mark.parametrize("lang", ["de", "en", "fr", "es", "it", "nl"])
def test_html_lang_picks_the_texts(page, customer_url, lang):
    banner = Banner(page)
    config = banner.open(customer_url(lang=lang))
    assert config.json()["language"] == lang
    banner.shown()
    assert_texts(banner, DEMO_TEXTS[lang])
    banner.open_prefs()
    expect(banner.prefs).to_contain_text(DEMO_TEXTS[lang]["categories"]["analytics"]["title"])
    expect(banner.prefs_button("save")).to_have_text(DEMO_TEXTS[lang]["save"])


def test_a_language_the_site_lacks_falls_back_to_its_default(visitor, customer_url):
    """lab has de (its default) and en; the page says fr, the browser wants Japanese."""
    page = visitor(locale="ja-JP").page()
    banner = Banner(page)
    config = banner.open(customer_url(site="lab", lang="fr"))
    assert config.json()["language"] == "de"
    banner.shown()
    assert_texts(banner, LAB_TEXTS["de"])


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_screenshots_of_the_banner_and_the_dialog(visitor, consentry, size):
    viewport = SIZES[size]
    page = visitor(viewport=viewport).page()
    banner = Banner(page)
    banner.visit(shop(consentry))
    SCREENSHOTS.mkdir(exist_ok=True)

    page.screenshot(path=SCREENSHOTS / f"banner-{size}.png")
    _assert_fits(page, banner.first_layer, viewport)
    for name in ("accept_all", "reject_all", "manage"):
        _assert_fits(page, banner.button(name), viewport)

    banner.open_prefs()
    page.screenshot(path=SCREENSHOTS / f"dialog-{size}.png")
    _assert_fits(page, banner.prefs, viewport)
    expect(banner.prefs_button("save")).to_be_visible()


def test_the_demo_shop_fits_a_phone_without_sideways_scrolling(visitor, consentry):
    viewport = SIZES["phone"]
    page = visitor(viewport=viewport).page()
    banner = Banner(page)
    banner.visit(shop(consentry))
    wider = page.evaluate(
        """width => [...document.querySelectorAll("body *")]
            .filter(e => e.getBoundingClientRect().right > width + 0.5)
            .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                 + (e.className && typeof e.className === "string" ? "." + e.className : ""))""",
        viewport["width"],
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"], wider


def _assert_fits(page, locator, viewport: dict) -> None:
    """The element lies inside the viewport's width (the visitor never scrolls sideways)."""
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= viewport["width"] + 0.5, box
