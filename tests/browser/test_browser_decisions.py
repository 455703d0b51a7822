"""The demo shop's first visit and the decisions a visitor makes there: reject, accept, a
custom choice and its withdrawal, session or persistent, and a reload that keeps it.

"Nothing gated ran" is read from the DOM (a gated tag is still ``type="text/plain"``, a gated
iframe has no ``src``) as well as from the shop's own run counter: the DOM is changed in the
same turn the banner decides to run a tag, so it cannot race a script still loading.
"""

import time

import pytest
from banner_page import (
    OPTIONAL,
    RUNS,
    Banner,
    all_ran,
    all_types,
    assert_gates_closed,
    is_decision,
    runs_of,
    shop,
)
from playwright.sync_api import expect

BUTTONS = ("accept_all", "reject_all", "manage")
NECESSARY_COOKIES = {"consentry", "session"}  # the demo site's necessary inventory
# What the demo shop's gated scripts set (the banner contract, "Demo shop").
ANALYTICS_COOKIES = {"_ga", "_ga_DEMO"}


def test_first_visit_shows_the_banner_with_equal_buttons_and_nothing_optional_happens(
    page, consentry
):
    banner = Banner(page)
    with page.expect_response(lambda r: "/impressions" in r.url) as impression:
        banner.visit(shop(consentry))
    assert impression.value.status == 204

    boxes = [banner.button(name).bounding_box() for name in BUTTONS]
    assert all(boxes), boxes
    for box in boxes[1:]:
        assert abs(box["width"] - boxes[0]["width"]) <= 1, boxes
        assert abs(box["height"] - boxes[0]["height"]) <= 1, boxes
    looks = [
        banner.button(name).evaluate(
            """e => { const s = getComputedStyle(e);
                return [s.fontSize, s.fontWeight, s.color, s.backgroundColor,
                        s.borderTopWidth, s.borderTopColor, s.textDecorationLine]; }"""
        )
        for name in BUTTONS
    ]
    assert looks.count(looks[0]) == len(looks), dict(zip(BUTTONS, looks, strict=True))

    assert_gates_closed(page)
    assert banner.cookie_names() <= NECESSARY_COOKIES - {"consentry"}
    # Consent Mode v2: everything denied by default, before any tag could run.
    first = banner.consent_mode()[0]
    assert first[:2] == ["consent", "default"], banner.consent_mode()
    assert first[2] == all_types("denied") | {"security_storage": "granted", "wait_for_update": 500}


def test_reject_all_in_one_click(page, consentry):
    banner = Banner(page)
    banner.visit(shop(consentry))
    decision = banner.decide(banner.button("reject_all"))

    expect(banner.first_layer).to_be_hidden()
    refused = {"necessary": True} | {c: False for c in OPTIONAL}
    assert banner.cookie()["choices"] == refused
    assert banner.cookie()["consent_id"] == decision["consent_id"]
    state = consentry.consent(decision["consent_id"])
    assert (state["action"], state["choices"]) == ("reject_all", refused)
    assert banner.last_update() == all_types("denied")
    assert_gates_closed(page)
    assert banner.cookie_names() <= NECESSARY_COOKIES


def test_accept_all_runs_every_gated_tag_and_embed_exactly_once(page, consentry):
    banner = Banner(page)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    banner.visit(shop(consentry))
    with page.expect_response(lambda r: "/demo/embed" in r.url) as embed:
        banner.decide(banner.button("accept_all"))
    assert embed.value.status == 200
    all_ran(page)
    assert banner.last_update() == all_types("granted")

    # A second decision with the same choices must not run anything again.
    banner.settings.click()
    expect(banner.prefs).to_be_visible()
    banner.decide(banner.prefs_button("save"))
    assert page.evaluate(RUNS) == runs_of(*OPTIONAL)
    for category in OPTIONAL:
        loads = [u for u in requested if u.endswith(f"/static/demo/{category}.js")]
        assert len(loads) == 1, (category, loads)
    assert len([u for u in requested if u.endswith("/demo/embed")]) == 1
    frame = page.locator("iframe[data-category]").first
    assert frame.get_attribute("src") == frame.get_attribute("data-src")


def test_custom_choice_runs_only_analytics_and_withdrawing_it_deletes_its_cookies(page, consentry):
    banner = Banner(page)
    banner.visit(shop(consentry))
    banner.open_prefs()
    banner.switch("analytics").check()
    first = banner.decide(banner.prefs_button("save"))

    all_ran(page, "analytics")
    assert page.evaluate(RUNS) == runs_of("analytics")
    assert banner.cookie_names() >= ANALYTICS_COOKIES
    assert not banner.cookie_names() & {"_fbp", "lang"}
    update = banner.last_update()
    assert update == all_types("denied") | {"analytics_storage": "granted"}
    assert consentry.consent(first["consent_id"])["action"] == "custom"

    # Withdrawal: as easy as consent, from the floating settings button.
    banner.settings.click()
    expect(banner.prefs).to_be_visible()
    expect(banner.switch("analytics")).to_be_checked()
    banner.switch("analytics").uncheck()
    second = banner.decide(banner.prefs_button("save"))

    assert second["consent_id"] == first["consent_id"]
    page.wait_for_function("() => !document.cookie.split('; ').some(c => /^_ga(_|=)/.test(c))")
    assert not ANALYTICS_COOKIES & banner.cookie_names()
    assert banner.last_update() == all_types("denied")
    history = consentry.consent(first["consent_id"])["history"]
    assert [r["choices"]["analytics"] for r in history] == [True, False]


# The demo shop is on the API's host: the server sets the cookie. The customer's page is
# another site: the script writes it. Both must say the same.
WHO_WRITES = ["server (demo shop)", "script (customer page)"]


def _page_url(consentry, customer_url, who: str) -> str:
    return shop(consentry) if who.startswith("server") else customer_url()


@pytest.mark.parametrize("who", WHO_WRITES)
def test_a_session_decision_is_a_cookie_without_expiry(page, consentry, customer_url, who):
    banner = Banner(page)
    banner.visit(_page_url(consentry, customer_url, who))
    remember = banner.first_layer.locator('[data-cy="remember"]')
    expect(remember).not_to_be_checked()
    decision = banner.decide(banner.button("accept_all"))

    assert (decision["lifetime"], decision["expires_at"]) == ("session", None)
    [cookie] = [c for c in page.context.cookies(page.url) if c["name"] == "consentry"]
    assert cookie["expires"] == -1, cookie
    assert banner.cookie()["lifetime"] == "session"


@pytest.mark.parametrize("who", WHO_WRITES)
def test_remember_my_choice_makes_a_persistent_cookie_for_the_site_lifetime(
    page, consentry, customer_url, who
):
    banner = Banner(page)
    banner.visit(_page_url(consentry, customer_url, who))
    banner.first_layer.locator('[data-cy="remember"]').check()
    decision = banner.decide(banner.button("reject_all"))

    assert decision["lifetime"] == "persistent"
    [cookie] = [c for c in page.context.cookies(page.url) if c["name"] == "consentry"]
    days = (cookie["expires"] - time.time()) / 86400
    assert 179 < days < 180.01, cookie  # the demo site's reject_days
    assert banner.cookie()["lifetime"] == "persistent"


def test_reload_keeps_the_decision_and_shows_no_banner(page, consentry):
    banner = Banner(page)
    banner.visit(shop(consentry))
    decision = banner.decide(banner.button("reject_all"))
    records = consentry.record_count()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))

    with page.expect_response(lambda r: "/config" in r.url):
        page.reload()
    expect(banner.settings).to_be_visible()
    expect(banner.first_layer).to_be_hidden()
    assert banner.state()["consent_id"] == decision["consent_id"]
    assert banner.state()["choices"] == {"necessary": True} | {c: False for c in OPTIONAL}
    assert_gates_closed(page)
    assert not [u for u in asked if "/impressions" in u or u.endswith("/api/v1/consents")]
    assert consentry.record_count() == records


def test_the_server_sets_the_cookie_when_the_api_is_on_the_same_site(page, consentry):
    banner = Banner(page)
    banner.visit(shop(consentry))
    with page.expect_response(is_decision) as answer:
        banner.button("reject_all").click()
    set_cookie = answer.value.header_value("set-cookie") or ""
    assert set_cookie.startswith("consentry="), answer.value.all_headers()
    assert "samesite=lax" in set_cookie.lower()
    assert "path=/" in set_cookie.lower()


def test_impressions_and_decisions_reach_clickhouse(page, consentry):
    impressions = [e for e in consentry.events("demo") if e[0] == "impression"]
    banner = Banner(page)
    banner.visit(shop(consentry))
    decision = banner.decide(banner.button("accept_all"))

    events = consentry.events("demo")
    assert len([e for e in events if e[0] == "impression"]) == len(impressions) + 1
    assert ("decision", "accept_all", decision["consent_id"]) in events
