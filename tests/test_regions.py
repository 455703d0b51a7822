"""Subdivision codes: a state or province gets its country's rule unless a rule names it."""

import pytest
from factories import decision
from two_sites import SHOP_ORIGIN, TWO_SITES, post, shop_decision

from consent.regions import resolve_region
from consent.sites import load_sites

SITES = load_sites(TWO_SITES)


@pytest.mark.parametrize(
    ("site", "code", "rule", "model"),
    [
        # demo: EEA, GB and CH opt-in; eight US states opt-out; the rest notice.
        ("demo", "DE-BY", "gdpr", "opt-in"),
        ("demo", "FR-75", "gdpr", "opt-in"),
        ("demo", "NO-03", "gdpr", "opt-in"),  # EEA, not EU
        ("demo", "GB-ENG", "gdpr", "opt-in"),  # a country rule covers its subdivisions
        ("demo", "CH-ZH", "gdpr", "opt-in"),
        ("demo", "US-CA", "us-state-privacy", "opt-out"),
        ("demo", "US-NY", "rest-of-world", "notice"),  # a state no rule names
        ("demo", "US", "rest-of-world", "notice"),  # the states' rule does not cover the country
        ("demo", "TR-34", "rest-of-world", "notice"),
        # shop: EEA opt-in; California opt-in; the whole US opt-out; the rest notice.
        ("shop", "DE-BY", "gdpr", "opt-in"),
        ("shop", "IS-1", "gdpr", "opt-in"),
        ("shop", "US-CA", "california", "opt-in"),  # the named state, before its country
        ("shop", "US-NY", "us", "opt-out"),
        ("shop", "US-TX", "us", "opt-out"),
        ("shop", "US", "us", "opt-out"),
        ("shop", "GB", "rest-of-world", "notice"),  # not in the EEA
        ("shop", "CH-ZH", "rest-of-world", "notice"),
        ("shop", "", "strictest-default", "opt-in"),
    ],
)
def test_subdivision_codes_get_their_countrys_rule(site, code, rule, model):
    match = resolve_region(code, SITES.get(site))
    assert (match.code, match.rule, match.model) == (code, rule, model)


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (decision(), {"X-Country-Code": "de-by"}, ("DE-BY", "gdpr", "opt-in")),
        (shop_decision(), {"CF-IPCountry": "US-NY"}, ("US-NY", "us", "opt-out")),
        (
            shop_decision(),
            {"CF-IPCountry": "XX", "X-Country-Code": "FR-75"},
            ("FR-75", "gdpr", "opt-in"),
        ),
    ],
    ids=["demo-DE-BY", "shop-US-NY", "shop-FR-75-after-unknown"],
)
def test_a_decision_stores_the_rule_its_subdivision_got(make_app, body, headers, expected):
    client = make_app(SITES_FILE=TWO_SITES).test_client()
    answer = post(client, body, headers).get_json()
    latest = client.get(f"/api/v1/consents/{answer['consent_id']}").get_json()["history"][-1]
    assert (latest["region"], latest["region_rule"], latest["region_model"]) == expected


def test_the_banner_config_of_a_subdivision_uses_its_countrys_rule(make_app):
    client = make_app(SITES_FILE=TWO_SITES).test_client()
    config = client.get(
        "/api/v1/sites/shop/config",
        headers={"Origin": SHOP_ORIGIN, "CloudFront-Viewer-Country": "AT-9"},
    ).get_json()
    assert config["region"] == {"code": "AT-9", "rule": "gdpr", "model": "opt-in"}
