"""When the banner must ask again, and when it must not: a new policy version, a new
category, preferences opened but never saved, and two ``consentry`` cookies at once.
"""

import json
from urllib.parse import quote

import pytest
from banner_page import Banner, all_ran, assert_gates_closed, shop
from playwright.sync_api import expect

COOKIE_DOMAIN = "consentry.localhost"
# A page on a subdomain, so a Domain=consentry.localhost cookie and a host-only one both
# reach it (*.localhost resolves to the loopback address in Chromium).
SHOP_HOST = "shop.consentry.localhost"


def test_a_policy_version_bump_prompts_again(page, consentry, sites):
    banner = Banner(page)
    banner.visit(shop(consentry))
    first = banner.decide(banner.button("accept_all"))
    all_ran(page)

    sites.change("demo", policy_version="2027-01-01")
    with page.expect_response(lambda r: "/config" in r.url):
        page.reload()
    banner.shown()
    # A consent to the old policy is no consent to the new one: nothing runs until asked.
    assert_gates_closed(page)
    assert page.evaluate("() => window.Consentry.accepted('analytics')") is False

    second = banner.decide(banner.button("accept_all"))
    assert second["policy_version"] == "2027-01-01"
    assert second["consent_id"] == first["consent_id"]
    assert banner.cookie()["policy_version"] == "2027-01-01"


def test_a_new_category_prompts_again_instead_of_being_silently_refused(page, consentry, sites):
    banner = Banner(page)
    banner.visit(shop(consentry))
    banner.decide(banner.button("accept_all"))

    sites.add_category(
        "demo",
        "social",
        [
            {
                "name": "_social",
                "provider": "A social network",
                "type": "persistent",
                "duration": "1 year",
                "purpose": "Share buttons.",
            }
        ],
    )
    with page.expect_response(lambda r: "/config" in r.url):
        page.reload()
    banner.shown()
    banner.open_prefs()
    expect(banner.switch("social")).to_be_visible()
    expect(banner.switch("social")).not_to_be_checked()
    banner.prefs_button("close").click()

    decision = banner.decide(banner.button("accept_all"))
    assert decision["choices"]["social"] is True
    assert banner.cookie()["choices"]["social"] is True


def test_opening_the_preferences_and_reloading_without_saving_records_nothing(page, consentry):
    posted: list[str] = []
    page.context.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    banner = Banner(page)
    banner.visit(shop(consentry))
    records = consentry.record_count()
    banner.open_prefs()
    banner.switch("analytics").check()

    with page.expect_response(lambda r: "/config" in r.url):
        page.reload()
    banner.shown()
    assert banner.state() is None
    assert banner.cookie() is None
    assert not [u for u in posted if u.endswith("/api/v1/consents")]
    assert consentry.record_count() == records
    assert_gates_closed(page)


def _cookie_value(decision: dict) -> str:
    """The ``consentry`` cookie as the banner contract writes it, for a decision."""
    return quote(
        json.dumps(
            {
                "consent_id": decision["consent_id"],
                "site": "lab",
                "choices": decision["choices"],
                "lifetime": decision["lifetime"],
                "policy_version": decision["policy_version"],
                "timestamp": decision["created_at"],
            }
        ),
        safe="",
    )


@pytest.mark.parametrize("stale", ["host-only", "domain"])
def test_two_consentry_cookies_the_newest_wins_and_the_stale_one_is_deleted(
    visitor, consentry, sites, customer_url, customer_port, stale
):
    """After a cookie-domain change the browser holds the old cookie beside the new one.

    The stale one is written first, so it comes first in document.cookie: a banner that
    takes the first it reads takes the stale one.
    """
    sites.change("lab", cookie_domain=COOKIE_DOMAIN)
    decision = {
        "site": "lab",
        "lifetime": "persistent",
        "policy_version": "lab-1",
        "language": "de",
    }
    accepted = consentry.decide(
        decision | {"choices": {"analytics": True, "marketing": True}, "action": "accept_all"}
    )
    refused = consentry.decide(
        decision
        | {
            "choices": {"analytics": False, "marketing": False},
            "action": "reject_all",
            "consent_id": accepted["consent_id"],
        }
    )
    assert refused["created_at"] > accepted["created_at"]
    origin = f"http://{SHOP_HOST}:{customer_port}/"
    host_only = {"url": origin}
    on_domain = {"domain": "." + COOKIE_DOMAIN, "path": "/"}
    places = [host_only, on_domain] if stale == "host-only" else [on_domain, host_only]
    context = visitor().context
    for place, answer in zip(places, [accepted, refused], strict=True):
        context.add_cookies([{"name": "consentry", "value": _cookie_value(answer)} | place])
    page = context.new_page()
    banner = Banner(page)

    banner.open(customer_url(site="lab", host=SHOP_HOST))
    page.wait_for_function("() => window.Consentry && window.Consentry.get() !== null")
    assert banner.state()["choices"] == refused["choices"]
    page.wait_for_function(
        "() => document.cookie.split('; ').filter(c => c.startsWith('consentry=')).length === 1"
    )
    assert banner.cookie()["timestamp"] == refused["created_at"]
    expect(banner.first_layer).to_be_hidden()
    assert_gates_closed(page, counter="__runs")
