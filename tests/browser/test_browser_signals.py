"""Do Not Track, Global Privacy Control and regions: what starts off, what is applied
without a banner, and what is never overwritten.

The region comes from the trusted header (X-Country-Code); DE is in the demo site's
opt-in rule, US-CA in its opt-out rule, JP in its notice rule.
"""

import pytest
from banner_page import OPTIONAL, Banner, all_ran, all_types, assert_gates_closed, is_decision, shop
from playwright.sync_api import Page, expect

DEMO_EN = {
    "do_not_sell": "Do Not Sell or Share My Personal Information",
    "gpc_honoured": "Your Global Privacy Control signal was honoured",
}
REFUSED = {"necessary": True} | {c: False for c in OPTIONAL}


def _opt_out_link(page: Page):
    return page.locator('[data-cy="do_not_sell"]')


@pytest.mark.parametrize("region", ["DE", "JP"])
@pytest.mark.parametrize("signal", ["gpc", "dnt"])
def test_a_signal_starts_everything_optional_off_and_is_recorded(
    visitor, consentry, signal, region
):
    page = visitor(region=region, signal=signal).page()
    banner = Banner(page)
    config = banner.open(shop(consentry)).json()
    assert config["signals"][signal] is True
    assert config["signals"]["honoured"] is True
    if region == "DE":
        banner.shown()
    banner.wait_ready()
    # Opening the preferences needs the config read: after it, the gates were decided.
    page.evaluate("() => window.Consentry.show()")
    expect(banner.prefs).to_be_visible()
    assert_gates_closed(page)
    assert page.evaluate("() => window.Consentry.accepted('analytics')") is False
    expect(banner.switch("necessary")).to_be_checked()
    expect(banner.switch("necessary")).to_be_disabled()
    for category in OPTIONAL:
        expect(banner.switch(category)).not_to_be_checked()
    decision = banner.decide(banner.prefs_button("save"))

    [record] = consentry.consent(decision["consent_id"])["history"]
    assert record[signal] is True
    assert record["choices"] == REFUSED
    assert record["region"] == region


@pytest.mark.parametrize("signal", ["gpc", "dnt"])
def test_in_an_opt_out_region_a_signal_applies_without_a_banner(visitor, consentry, signal):
    page = visitor(region="US-CA", signal=signal).page()
    banner = Banner(page)
    with page.expect_response(is_decision) as answer:
        banner.open(shop(consentry))
    assert answer.value.status == 201
    decision = answer.value.json()

    expect(_opt_out_link(page)).to_be_visible()
    expect(_opt_out_link(page)).to_have_text(DEMO_EN["do_not_sell"])
    if signal == "gpc":
        notice = page.locator('[data-cy="gpc_notice"]')
        expect(notice).to_be_visible()
        expect(notice).to_have_attribute("role", "status")
        expect(notice).to_have_text(DEMO_EN["gpc_honoured"])
    expect(banner.first_layer).to_be_hidden()
    assert_gates_closed(page)
    assert banner.last_update() == all_types("denied")

    [record] = consentry.consent(decision["consent_id"])["history"]
    assert record["action"] == signal
    assert record["choices"] == REFUSED
    assert record[signal] is True
    assert (record["region"], record["region_model"]) == ("US-CA", "opt-out")


def test_in_an_opt_out_region_optional_runs_until_the_visitor_opts_out(visitor, consentry):
    page = visitor(region="US-CA").page()
    banner = Banner(page)
    banner.open(shop(consentry))
    expect(_opt_out_link(page)).to_be_visible()
    expect(banner.first_layer).to_be_hidden()
    all_ran(page)

    _opt_out_link(page).click()
    expect(banner.prefs).to_be_visible()
    for category in OPTIONAL:
        banner.switch(category).uncheck()
    decision = banner.decide(banner.prefs_button("save"))
    assert decision["choices"] == REFUSED

    with page.expect_response(lambda r: "/config" in r.url):
        page.reload()
    expect(_opt_out_link(page)).to_be_visible()
    banner.wait_ready()
    assert banner.state()["choices"] == REFUSED
    assert_gates_closed(page)


def test_a_stored_rejection_is_never_overwritten_by_an_opt_out_region_default(visitor, consentry):
    """c15t's bug: a visitor who refused in the EU travels to California, and the region's
    default (optional on) replaced the refusal."""
    visit = visitor(region="DE")
    page = visit.page()
    banner = Banner(page)
    banner.visit(shop(consentry))
    decision = banner.decide(banner.button("reject_all"))
    cookie = banner.cookie()

    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    visit.context.set_extra_http_headers({"X-Country-Code": "US-CA"})
    config = banner.open(shop(consentry)).json()
    assert config["region"]["model"] == "opt-out"
    expect(_opt_out_link(page)).to_be_visible()
    banner.wait_ready()

    assert banner.state()["consent_id"] == decision["consent_id"]
    assert banner.state()["choices"] == REFUSED
    assert_gates_closed(page)
    assert banner.cookie() == cookie
    assert not [u for u in posted if u.endswith("/api/v1/consents")]
    assert len(consentry.consent(decision["consent_id"])["history"]) == 1


def test_gpc_then_an_explicit_opt_in_the_explicit_choice_wins_and_carries_the_signal(
    visitor, consentry
):
    page = visitor(region="DE", signal="gpc").page()
    banner = Banner(page)
    banner.visit(shop(consentry))
    decision = banner.decide(banner.button("accept_all"))

    all_ran(page)
    assert banner.last_update() == all_types("granted")
    assert banner.cookie()["choices"] == {"necessary": True} | {c: True for c in OPTIONAL}
    [record] = consentry.consent(decision["consent_id"])["history"]
    # The proof shows the conflict: everything granted, by a browser that sent GPC.
    assert record["action"] == "accept_all"
    assert record["choices"] == {"necessary": True} | {c: True for c in OPTIONAL}
    assert record["gpc"] is True


# Every image address the page sets, recorded in the same turn (no race with the network).
RECORD_IMAGES = """
window.__images = [];
const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
Object.defineProperty(HTMLImageElement.prototype, "src", {
  configurable: true,
  get() { return src.get.call(this); },
  set(value) { window.__images.push(String(value)); src.set.call(this, value); },
});
"""


@pytest.mark.parametrize(
    ("signal", "button", "counted"),
    [
        (None, "accept_all", 1),
        (None, "reject_all", 0),
        ("gpc", "accept_all", 0),
        ("dnt", "accept_all", 0),
    ],
)
def test_the_page_view_beacon_counts_only_granted_analytics_without_a_signal(
    visitor, consentry, signal, button, counted
):
    page = visitor(region="DE", signal=signal).page()
    page.add_init_script(RECORD_IMAGES)
    banner = Banner(page)
    beacons = "() => window.__images.filter(u => u.includes('/b/demo.gif')).length"
    banner.visit(shop(consentry))
    banner.decide(banner.button(button))
    assert page.evaluate(beacons) == counted

    with page.expect_response(lambda r: "/config" in r.url):
        page.reload()
    expect(banner.settings).to_be_visible()
    assert page.evaluate(beacons) == counted  # once per page view
