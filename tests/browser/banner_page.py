"""The banner as a test drives it: its elements (the ids and data-cy attributes of the
banner contract), its decisions, and what the page shows of them (cookies, Consent Mode).
"""

from browser_support import read_cookie
from playwright.sync_api import Locator, Page, Response, expect

from consent.sites import CONSENT_MODE_TYPES

OPTIONAL = ("preferences", "analytics", "marketing")  # the demo site's optional categories


def is_decision(response: Response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/api/v1/consents")


def is_config(response: Response) -> bool:
    return "/api/v1/sites/" in response.url and "/config" in response.url


class Banner:
    """The Consentry banner on one page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.first_layer = page.locator("#consentry-banner")
        self.prefs = page.locator("#consentry-prefs")
        self.settings = page.locator('[data-cy="settings"]')

    def button(self, name: str) -> Locator:
        """A first-layer button: accept_all, reject_all, manage."""
        return self.first_layer.locator(f'[data-cy="{name}"]')

    def prefs_button(self, name: str) -> Locator:
        """A button of the preferences dialog: save, close (accept_all, reject_all)."""
        return self.prefs.locator(f'[data-cy="{name}"]')

    def switch(self, category: str) -> Locator:
        return self.prefs.locator(f'input[type="checkbox"][data-cy-category="{category}"]')

    def open(self, url: str) -> Response:
        """Load a page and wait until its banner's config has been answered."""
        with self.page.expect_response(is_config) as config:
            self.page.goto(url)
        return config.value

    def visit(self, url: str) -> Response:
        """Load a page as a first-time visitor: the banner must show."""
        config = self.open(url)
        self.shown()
        return config

    def wait_ready(self) -> None:
        """Wait until the script has read its config and applied any stored decision."""
        self.page.wait_for_function("() => window.Consentry !== undefined")

    def shown(self) -> None:
        expect(self.first_layer).to_be_visible()

    def decide(self, locator: Locator) -> dict:
        """Click a deciding button; wait for the answered decision and the page's state."""
        with self.page.expect_response(is_decision) as answer:
            locator.click()
        assert answer.value.status == 201, answer.value.text()
        decision = answer.value.json()
        self.page.wait_for_function(
            "id => window.Consentry.get() && window.Consentry.get().consent_id === id",
            arg=decision["consent_id"],
        )
        return decision

    def open_prefs(self) -> None:
        self.button("manage").click()
        expect(self.prefs).to_be_visible()

    def state(self) -> dict | None:
        return self.page.evaluate("() => window.Consentry.get()")

    def consent_mode(self) -> list[list]:
        """The Consent Mode commands in window.dataLayer: ["consent", "default"|"update", {...}]."""
        return self.page.evaluate(
            """() => Array.from(window.dataLayer || [])
                .filter(e => e && e[0] === "consent")
                .map(e => [e[0], e[1], e[2]])"""
        )

    def last_update(self) -> dict:
        updates = [c[2] for c in self.consent_mode() if c[1] == "update"]
        assert updates, f"no Consent Mode update in {self.consent_mode()}"
        return updates[-1]

    def cookie(self) -> dict | None:
        """The ``consentry`` cookie the browser holds for this page, decoded."""
        found = [c for c in self.page.context.cookies(self.page.url) if c["name"] == "consentry"]
        assert len(found) <= 1, f"more than one consentry cookie: {found}"
        return read_cookie(found[0]["value"]) if found else None

    def cookie_names(self) -> set[str]:
        return {c["name"] for c in self.page.context.cookies(self.page.url)}


def all_types(value: str) -> dict[str, str]:
    return {t: value for t in CONSENT_MODE_TYPES}


GATES = """() => {
  const tags = [...document.querySelectorAll("script[data-category]")];
  const frames = [...document.querySelectorAll("iframe[data-category]")];
  return {
    tags: tags.length,
    frames: frames.length,
    open_tags: tags.filter(t => t.type !== "text/plain" || t.dataset.consentry === "ran").length,
    open_frames: frames.filter(f => f.hasAttribute("src")).length,
  };
}"""
RUNS = "() => window.__demoRuns || {}"


def shop(consentry) -> str:
    """The demo shop, on the Consentry origin."""
    return consentry.url + "/"


def assert_gates_closed(page: Page, counter: str = "__demoRuns") -> None:
    """No gated tag or embed has run: read from the DOM and from the page's run counter.

    The DOM changes in the same turn the banner decides to run a tag, so it cannot race a
    script that is still loading; the counter catches a tag run some other way.
    """
    gates = page.evaluate(GATES)
    assert gates["tags"] >= 2, f"the page has no gated tags: {gates}"
    assert gates["frames"] >= 1, f"the page has no gated embed: {gates}"
    assert (gates["open_tags"], gates["open_frames"]) == (0, 0), gates
    assert page.evaluate(f"() => window.{counter} || {{}}") == {}


# The demo shop's gated tags, by the key each adds to window.__demoRuns when it runs, and
# their category: a script per category, an inline snippet, and the video embed.
DEMO_TAGS = {
    "preferences": "preferences",
    "analytics": "analytics",
    "marketing": "marketing",
    "inline": "analytics",
    "embed": "marketing",
}


def runs_of(*categories: str) -> dict[str, int]:
    """window.__demoRuns once the demo shop's tags of ``categories`` ran once each."""
    return {tag: 1 for tag, category in DEMO_TAGS.items() if category in categories}


def all_ran(page: Page, *categories: str) -> None:
    """Wait until the demo shop's tags of ``categories`` (default: all) ran once each."""
    page.wait_for_function(
        "want => Object.entries(want).every(([tag, n]) => (window.__demoRuns || {})[tag] === n)",
        arg=runs_of(*(categories or OPTIONAL)),
    )
