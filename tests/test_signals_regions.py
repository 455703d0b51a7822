"""Pure logic: signals, regions, origins, IP truncation, action naming."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from consent.records import settle_action
from consent.regions import region_code, resolve_region
from consent.signals import Signals, read_signals
from consent.sites import load_sites, origin_matches
from core.config import BUNDLED_SITES_FILE
from core.errors import Unprocessable
from core.times import utc_text
from core.visitors import ip_prefix, ua_family

DEMO = load_sites(BUNDLED_SITES_FILE).get("demo")
PLUS_TWO = timezone(timedelta(hours=2))
HEADERS = ["CF-IPCountry", "CloudFront-Viewer-Country", "X-Country-Code"]


@pytest.mark.parametrize(
    ("headers", "dnt", "gpc"),
    [
        ({}, False, False),
        ({"DNT": "1"}, True, False),
        ({"DNT": "0"}, False, False),
        ({"Sec-GPC": "1"}, False, True),
        ({"Sec-GPC": "true"}, False, False),
        ({"DNT": " 1 ", "Sec-GPC": "1"}, True, True),
    ],
)
def test_read_signals(headers, dnt, gpc):
    assert read_signals(headers) == Signals(dnt=dnt, gpc=gpc)


@pytest.mark.parametrize(
    ("signals", "policy", "honoured"),
    [
        (Signals(dnt=True), "strict", True),
        (Signals(dnt=True), "gpc", False),
        (Signals(gpc=True), "gpc", True),
        (Signals(), "strict", False),
    ],
)
def test_signal_policy(signals, policy, honoured):
    assert signals.honoured(policy) is honoured


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"CF-IPCountry": "de"}, "DE"),
        ({"CF-IPCountry": "XX", "X-Country-Code": "FR"}, "FR"),
        ({"CF-IPCountry": "T1"}, ""),
        ({"CloudFront-Viewer-Country": "US-CA"}, "US-CA"),
        ({"X-Country-Code": "not a country"}, ""),
        ({}, ""),
    ],
)
def test_region_code_from_trusted_headers(headers, code):
    assert region_code(headers, HEADERS) == code


@pytest.mark.parametrize(
    ("code", "rule", "model"),
    [
        ("NO", "gdpr", "opt-in"),
        ("CH", "gdpr", "opt-in"),
        ("US-CO", "us-state-privacy", "opt-out"),
        ("US-NY", "rest-of-world", "notice"),
        ("BR", "rest-of-world", "notice"),
        ("", "strictest-default", "opt-in"),
    ],
)
def test_resolve_region(code, rule, model):
    match = resolve_region(code, DEMO)
    assert (match.rule, match.model) == (rule, model)


def test_unknown_region_gets_the_strictest_configured_model():
    site = DEMO.model_copy(update={"regions": [r for r in DEMO.regions if r.model != "opt-in"]})
    assert resolve_region("", site).model == "opt-out"
    assert resolve_region("", DEMO.model_copy(update={"regions": []})).model == "opt-in"
    with_fallback = DEMO.model_copy(update={"fallback_region": "US-CA"})
    assert resolve_region("", with_fallback).rule == "us-state-privacy"


@pytest.mark.parametrize(
    ("pattern", "origin", "matches"),
    [
        ("https://example.com", "https://example.com", True),
        ("https://example.com", "https://example.com:8443", False),
        ("https://example.com", "http://example.com", False),
        ("https://*.example.com", "https://shop.example.com", True),
        ("https://*.example.com", "https://example.com", False),
        ("https://*.example.com", "https://evilexample.com", False),
        ("http://localhost:*", "http://localhost:3000", True),
        ("http://localhost:*", "http://localhost:abc", False),
        ("http://localhost:*", "http://localhostx:3000", False),
        ("https://*.example.com", "https://a\u0000b.example.com", False),
        ("https://*.example.com", "https://*.example.com", False),
        # Ports: 1-65535 in RFC 6454's serialisation, which never writes a default port
        # and never a leading zero.
        ("http://localhost:*", "http://localhost", True),
        ("http://localhost:*", "http://localhost:1", True),
        ("http://localhost:*", "http://localhost:65535", True),
        ("http://localhost:*", "http://localhost:443", True),
        ("http://localhost:*", "http://localhost:99999", False),
        ("http://localhost:*", "http://localhost:65536", False),
        ("http://localhost:*", "http://localhost:0", False),
        ("http://localhost:*", "http://localhost:0080", False),
        ("http://localhost:*", "http://localhost:80", False),
        ("http://localhost:8080", "http://localhost:08080", False),
        ("https://example.com", "https://example.com:443", False),
        ("https://*.example.com", "https://shop.example.com:443", False),
        ("https://*.example.com", "https://shop.example.com:8443", False),
        ("https://example.com:8443", "https://example.com:8443", True),
    ],
)
def test_origin_patterns(pattern, origin, matches):
    assert origin_matches(pattern, origin) is matches


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("not-an-ip", None),
        (None, None),
    ],
)
def test_ip_prefix(address, prefix):
    assert ip_prefix(address) == prefix


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 29, 5, 32, 25, 309000, tzinfo=UTC), "2026-11-29T05:32:25.309000"),
        (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T01:04:05.000000",
        ),
        (datetime(2026, 1, 2, 3, 4, 5, 6), "2026-01-02T03:04:05.000006"),  # naive: SQLite's UTC
        # A zero offset that is not the UTC singleton (a driver's own zone object).
        (
            datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=timezone(timedelta(0), "GMT")),
            "2026-01-02T03:04:05.000007",
        ),
        (
            datetime(2026, 1, 2, 3, 4, 5, 8, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
            "2026-01-02T08:34:05.000008",
        ),
    ],
)
def test_utc_text_keeps_microseconds_and_converts_to_utc(moment, text):
    # Record hashes and ClickHouse timestamps are made of this text: it must not drift.
    assert utc_text(moment) == text
    assert utc_text(moment, sep=" ") == text.replace("T", " ")


def test_utc_text_of_the_same_wall_time_in_other_zones_is_its_own():
    # Texts are kept per instant: each of these is asked twice, in turn, and a naive
    # time never takes an aware one's text (or the other way round).
    wall = (2026, 3, 4, 5, 6, 7, 8)
    moments = {
        datetime(*wall): "2026-03-04T05:06:07.000008",
        datetime(*wall, tzinfo=UTC): "2026-03-04T05:06:07.000008",
        datetime(*wall, tzinfo=timezone(timedelta(hours=5))): "2026-03-04T00:06:07.000008",
        datetime(*wall, tzinfo=timezone(timedelta(hours=-5))): "2026-03-04T10:06:07.000008",
    }
    for _ in range(2):
        for moment, text in moments.items():
            assert utc_text(moment) == text
            assert utc_text(moment, sep=" ") == text.replace("T", " ")


def test_ua_family():
    chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36"
    )
    assert ua_family(chrome) == "Chrome"
    assert ua_family("") == ""


ALL = {"necessary": True, "analytics": True, "marketing": True}
NONE = {"necessary": True, "analytics": False, "marketing": False}
SOME = {"necessary": True, "analytics": True, "marketing": False}


@pytest.mark.parametrize(
    ("action", "choices", "signals", "expected"),
    [
        (None, ALL, Signals(), "accept_all"),
        (None, NONE, Signals(), "reject_all"),
        (None, SOME, Signals(), "custom"),
        ("custom", ALL, Signals(), "custom"),
        ("withdraw", NONE, Signals(), "withdraw"),
        ("gpc", NONE, Signals(gpc=True), "gpc"),
        ("dnt", NONE, Signals(dnt=True), "dnt"),
        ("accept_all", SOME, Signals(), Unprocessable),
        ("reject_all", SOME, Signals(), Unprocessable),
        ("gpc", NONE, Signals(dnt=True), Unprocessable),
        ("gpc", SOME, Signals(gpc=True), Unprocessable),
    ],
)
def test_settle_action(action, choices, signals, expected):
    if expected is Unprocessable:
        with pytest.raises(Unprocessable):
            settle_action(action, choices, signals)
    else:
        assert settle_action(action, choices, signals) == expected
