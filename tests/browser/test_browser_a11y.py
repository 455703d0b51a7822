"""Accessibility: keyboard only, and axe-core (the copy bundled in axe-playwright-python,
so no network) on the banner, the preferences dialog and the cookie declaration page.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe
from banner_page import Banner, shop
from playwright.sync_api import Page, expect

# Where the keyboard focus is: a banner control by its data-cy / category, or a page element.
FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "body";
  if (e.closest("#consentry")) {
    const where = e.closest("#consentry-prefs") ? "prefs" : "banner";
    const name = e.dataset.cy || (e.dataset.cyCategory && "category:" + e.dataset.cyCategory)
      || e.tagName.toLowerCase() + (e.id ? "#" + e.id : "");
    return where + ":" + name;
  }
  return "page:" + e.tagName.toLowerCase() + (e.id ? "#" + e.id : "");
}"""
TABBABLE = (
    "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), "
    'textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])'
)
SERIOUS = ("serious", "critical")


def focus(page: Page) -> str:
    return page.evaluate(FOCUS)


def tab_to(page: Page, target: str, limit: int = 30, key: str = "Tab") -> list[str]:
    """Press Tab until ``target`` has the focus; return the stops on the way."""
    stops = []
    for _ in range(limit):
        page.keyboard.press(key)
        stops.append(focus(page))
        if stops[-1] == target:
            return stops
    raise AssertionError(f"{target} never got the focus; Tab went {stops}")


def focus_cycle(page: Page, key: str, limit: int = 60) -> list[str]:
    """Press ``key`` until the focus comes back to where it was; return the stops.

    A trapped focus cycles; one that escapes never comes back within the limit.
    """
    start = focus(page)
    page.evaluate("() => { window.__cycleStart = document.activeElement; }")
    stops = []
    for _ in range(limit):
        page.keyboard.press(key)
        stops.append(focus(page))
        if page.evaluate("() => document.activeElement === window.__cycleStart"):
            return stops
    raise AssertionError(f"the focus never came back to {start}: {stops}")


def controls(page: Page, scope: str, where: str) -> list[str]:
    """The tabbable controls in ``scope``, in document order, named as FOCUS names them."""
    return (
        page.locator(scope)
        .locator(TABBABLE)
        .evaluate_all(
            """(els, where) => els.filter(e => e.getClientRects().length).map(e => where + ":" + (
              e.dataset.cy || (e.dataset.cyCategory && "category:" + e.dataset.cyCategory)
              || e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")))""",
            where,
        )
    )


def test_keyboard_only(page, customer_url):
    banner = Banner(page)
    banner.visit(customer_url())

    # The first layer: every control reached, in the order it is shown.
    first_layer = controls(page, "#consentry-banner", "banner")
    assert {"banner:accept_all", "banner:reject_all", "banner:manage"} <= set(first_layer)
    stops = tab_to(page, first_layer[-1])
    assert [s for s in stops if s.startswith("banner:")] == first_layer

    # Enter opens the preferences; the focus moves in and stays in.
    tab_to(page, "banner:manage", key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(banner.prefs).to_be_visible()
    page.wait_for_function("() => document.activeElement.closest('#consentry-prefs') !== null")
    in_dialog = controls(page, "#consentry-prefs", "prefs")
    assert {"prefs:save", "prefs:close", "prefs:category:analytics"} <= set(in_dialog)
    assert "prefs:category:necessary" not in in_dialog  # on and disabled: not a stop
    for key in ("Tab", "Shift+Tab"):
        cycle = focus_cycle(page, key)
        assert all(s.startswith("prefs:") for s in cycle), (key, cycle)
        assert set(in_dialog) <= set(cycle), (key, in_dialog, cycle)

    # Space toggles a switch; Escape closes and gives the focus back to the opener.
    tab_to(page, "prefs:category:analytics")
    page.keyboard.press("Space")
    expect(banner.switch("analytics")).to_be_checked()
    page.keyboard.press("Escape")
    expect(banner.prefs).to_be_hidden()
    assert focus(page) == "banner:manage"

    # Enter again, Space on a switch, Enter on Save: a decision made by keyboard alone.
    page.keyboard.press("Enter")
    expect(banner.prefs).to_be_visible()
    tab_to(page, "prefs:category:analytics")
    if not banner.switch("analytics").is_checked():
        page.keyboard.press("Space")
    tab_to(page, "prefs:save")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/consents")) as answer:
        page.keyboard.press("Enter")
    assert answer.value.json()["choices"] == {
        "necessary": True,
        "analytics": True,
        "marketing": False,
        "preferences": False,
    }
    expect(banner.prefs).to_be_hidden()
    expect(banner.first_layer).to_be_hidden()


def test_reject_all_by_keyboard_with_space(page, customer_url):
    banner = Banner(page)
    banner.visit(customer_url())
    tab_to(page, "banner:reject_all")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/consents")) as answer:
        page.keyboard.press("Space")
    assert answer.value.json()["action"] == "reject_all"


def serious_violations(page: Page, include: str | None = None) -> list[dict]:
    context = {"include": [[include]]} if include else None
    results = Axe().run(page, context=context)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize("part", ["banner", "dialog"])
def test_axe_finds_nothing_serious_in_the_banner(page, consentry, part):
    banner = Banner(page)
    banner.visit(shop(consentry))
    scope = "#consentry-banner"
    if part == "dialog":
        banner.open_prefs()
        scope = "#consentry-prefs"
    assert serious_violations(page, scope) == []


def test_axe_finds_nothing_serious_on_the_cookie_declaration(page, consentry):
    page.goto(consentry.url + "/sites/demo/cookies")
    expect(page.locator("body")).to_contain_text("_ga")
    assert serious_violations(page) == []


def test_the_declaration_page_reopens_the_preferences(page, consentry):
    banner = Banner(page)
    banner.visit(consentry.url + "/sites/demo/cookies")
    banner.decide(banner.button("reject_all"))
    page.locator("[data-consentry-settings], [data-cc='show-preferencesModal']").first.click()
    expect(banner.prefs).to_be_visible()
    for text in ("session", "persistent", "2026-11-01"):
        expect(page.locator("body")).to_contain_text(text)
