"""Decision records across two sites: what is stored, for how long, under which id."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import ORIGIN, clickhouse_rows, decision
from sqlalchemy import update
from two_sites import CHROME, SHOP_ORIGIN, TWO_SITES, post, shop_decision

from consent import records
from consent.models import ConsentRecord, NewRecord
from consent.regions import resolve_region
from consent.schemas import DecisionIn
from consent.signals import Signals
from consent.sites import load_sites
from core.db import db
from core.times import utc_text

VISITOR = {"REMOTE_ADDR": "203.0.113.77"}


@pytest.fixture
def app(make_app):
    return make_app(SITES_FILE=TWO_SITES)


@pytest.fixture
def client(app):
    return app.test_client()


def _record(app, record_id: str) -> ConsentRecord:
    with app.app_context():
        query = db.select(ConsentRecord).where(ConsentRecord.record_id == record_id)
        return db.session.scalars(query).one()


def _state(client, consent_id: str) -> dict:
    response = client.get(f"/api/v1/consents/{consent_id}")
    assert response.status_code == 200
    return response.get_json()


# --- what proof options store -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "stored", "shipped"),
    [
        (decision(), ("203.0.113.0/24", "Chrome"), ("203.0.113.0/24", "Chrome")),
        (shop_decision(), (None, None), ("", "")),
    ],
    ids=["demo-options-on", "shop-options-off"],
)
def test_proof_options_decide_whether_ip_prefix_and_ua_family_are_kept(
    app, client, body, stored, shipped
):
    response = client.post(
        "/api/v1/consents",
        json=body,
        headers={"Origin": SHOP_ORIGIN if body["site"] == "shop" else ORIGIN, "User-Agent": CHROME},
        environ_base=VISITOR,
    )
    assert response.status_code == 201
    record = _record(app, response.get_json()["record_id"])
    assert (record.ip_prefix, record.ua_family) == stored
    rows = clickhouse_rows(app, "SELECT ip_prefix, ua_family FROM consent_events")
    assert rows == [shipped]


@pytest.mark.parametrize(
    ("hops", "forwarded_for", "prefix"),
    [
        (0, "198.51.100.9", "203.0.113.0/24"),  # no proxy trusted: the peer's address
        (1, "198.51.100.9", "198.51.100.0/24"),  # one proxy: the address it saw
        (1, "192.0.2.1, 198.51.100.9", "198.51.100.0/24"),  # a client-written entry ignored
    ],
)
def test_x_forwarded_for_is_used_only_behind_a_trusted_proxy(make_app, hops, forwarded_for, prefix):
    app = make_app(SITES_FILE=TWO_SITES, PROXY_HOPS=hops)
    response = app.test_client().post(
        "/api/v1/consents",
        json=decision(),
        headers={"Origin": ORIGIN, "X-Forwarded-For": forwarded_for},
        environ_base=VISITOR,
    )
    assert response.status_code == 201
    assert _record(app, response.get_json()["record_id"]).ip_prefix == prefix
    assert clickhouse_rows(app, "SELECT ip_prefix FROM consent_events") == [(prefix,)]


# --- lifetimes, expiry and outdated policies --------------------------------------------


def _withdrawn(client, body: dict) -> dict:
    consent_id = post(client, body).get_json()["consent_id"]
    origin = SHOP_ORIGIN if body["site"] == "shop" else ORIGIN
    response = client.delete(f"/api/v1/consents/{consent_id}", headers={"Origin": origin})
    assert response.status_code == 200
    return response.get_json()


@pytest.mark.parametrize(
    ("site", "make", "action", "days"),
    [
        ("shop", lambda c: post(c, shop_decision()).get_json(), "accept_all", 200),
        (
            "shop",
            lambda c: post(c, shop_decision(choices={"analytics": True})).get_json(),
            "custom",
            200,
        ),
        ("shop", lambda c: post(c, shop_decision(choices={})).get_json(), "reject_all", 30),
        ("shop", lambda c: _withdrawn(c, shop_decision()), "withdraw", 30),
        (
            "shop",
            lambda c: post(c, shop_decision(choices={}, action="gpc"), {"Sec-GPC": "1"}).get_json(),
            "gpc",
            30,
        ),
        (
            "shop",
            lambda c: post(c, shop_decision(lifetime="session")).get_json(),
            "accept_all",
            None,
        ),
        ("shop", lambda c: _withdrawn(c, shop_decision(lifetime="session")), "withdraw", None),
        ("demo", lambda c: post(c, decision()).get_json(), "accept_all", 180),
        ("demo", lambda c: post(c, decision(choices={})).get_json(), "reject_all", 180),
    ],
    ids=[
        "shop-accept",
        "shop-custom",
        "shop-reject",
        "shop-withdraw",
        "shop-gpc",
        "shop-session",
        "shop-session-withdraw",
        "demo-accept",
        "demo-reject",
    ],
)
def test_each_action_gets_its_sites_lifetime(app, client, site, make, action, days):
    answer = make(client)
    assert answer["action"] == action
    record = _record(app, answer["record_id"])
    assert record.site_id == site
    if days is None:
        assert record.expires_at is None
        assert answer["expires_at"] is None
    else:
        assert record.expires_at - record.created_at == timedelta(days=days)
        assert datetime.fromisoformat(answer["expires_at"]) == _utc(record.expires_at)
    state = _state(client, answer["consent_id"])
    assert (state["expired"], state["outdated"]) == (False, False)


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive UTC times, PostgreSQL aware ones.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expires_in", "expired"),
    [
        (timedelta(minutes=5), False),
        (timedelta(seconds=-1), True),
        (timedelta(days=-400), True),
    ],
)
def test_expired_turns_true_once_the_stored_expiry_has_passed(app, client, expires_in, expired):
    answer = post(client, shop_decision(choices={})).get_json()
    with app.app_context():
        db.session.execute(
            update(ConsentRecord)
            .where(ConsentRecord.record_id == answer["record_id"])
            .values(expires_at=datetime.now(UTC) + expires_in)
        )
        db.session.commit()
    state = _state(client, answer["consent_id"])
    assert state["expired"] is expired
    assert state["outdated"] is False


def test_a_session_decision_never_expires(app, client):
    answer = post(client, shop_decision(lifetime="session")).get_json()
    with app.app_context():
        db.session.execute(
            update(ConsentRecord)
            .where(ConsentRecord.record_id == answer["record_id"])
            .values(created_at=datetime.now(UTC) - timedelta(days=4000))
        )
        db.session.commit()
    assert _state(client, answer["consent_id"])["expired"] is False


def test_outdated_turns_true_when_the_sites_policy_version_changes(make_app, tmp_path):
    before = make_app(SITES_FILE=TWO_SITES)
    demo = post(before.test_client(), decision()).get_json()
    shop = post(before.test_client(), shop_decision()).get_json()

    # The same stores, restarted with a sites file where only demo's policy moved on.
    changed = tmp_path / "changed.toml"
    text = Path(TWO_SITES).read_text()
    assert text.count('policy_version = "2026-11-01"') == 1
    changed.write_text(text.replace('policy_version = "2026-11-01"', 'policy_version = "2027-01"'))
    after = make_app(SITES_FILE=str(changed)).test_client()

    assert _state(after, demo["consent_id"])["outdated"] is True
    assert _state(after, shop["consent_id"])["outdated"] is False
    assert _state(before.test_client(), demo["consent_id"])["outdated"] is False
    # A new decision under the new policy is current again, under the same consent id.
    renewed = post(after, decision(consent_id=demo["consent_id"], policy_version="2027-01"))
    assert renewed.get_json()["consent_id"] == demo["consent_id"]
    state = _state(after, demo["consent_id"])
    assert (state["outdated"], state["policy_version"]) == (False, "2027-01")


# --- consent ids stay on their site -----------------------------------------------------


def test_a_consent_id_from_one_site_is_never_continued_on_another(app, client):
    demo_id = post(client, decision()).get_json()["consent_id"]

    on_shop = post(client, shop_decision(consent_id=demo_id))
    assert on_shop.status_code == 201
    shop_id = on_shop.get_json()["consent_id"]
    assert shop_id != demo_id
    # Its own site still continues it.
    assert post(client, decision(consent_id=demo_id, choices={})).get_json()["consent_id"] == (
        demo_id
    )
    assert post(client, shop_decision(consent_id=shop_id)).get_json()["consent_id"] == shop_id

    demo_state = _state(client, demo_id)
    assert demo_state["site"] == "demo"
    assert [r["action"] for r in demo_state["history"]] == ["accept_all", "reject_all"]
    shop_state = _state(client, shop_id)
    assert shop_state["site"] == "shop"
    assert len(shop_state["history"]) == 2
    with app.app_context():
        sites = db.session.execute(
            db.select(ConsentRecord.consent_id, ConsentRecord.site_id).distinct()
        ).all()
    assert sorted(sites) == sorted([(demo_id, "demo"), (shop_id, "shop")])


# --- impressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "origin"),
    [
        ("shop", ORIGIN),  # allowed for demo, not for shop
        ("demo", SHOP_ORIGIN),
        ("demo", "https://evil.example"),
        ("shop", "https://shop.example.evil.example"),
    ],
)
def test_an_impression_from_a_foreign_origin_is_refused_and_not_counted(app, client, site, origin):
    response = client.post(
        f"/api/v1/sites/{site}/impressions", json={"language": "en"}, headers={"Origin": origin}
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "bad_origin"
    assert app.extensions["events"].health()["spool"]["backlog_events"] == 0
    assert clickhouse_rows(app, "SELECT count() FROM consent_events") == [(0,)]


@pytest.mark.parametrize(
    ("headers", "signals", "expected"),
    [
        ({}, {"dnt": True, "gpc": True}, (1, 1)),
        ({}, {"gpc": True}, (0, 1)),
        ({}, {"dnt": True}, (1, 0)),
        ({"DNT": "1"}, {"gpc": True}, (1, 1)),
        ({"Sec-GPC": "1"}, {"dnt": False, "gpc": False}, (0, 1)),
        ({}, None, (0, 0)),
    ],
)
def test_an_impression_keeps_the_signals_the_page_saw(app, client, headers, signals, expected):
    body = {"language": "fr", "page": "/cart"}
    if signals is not None:
        body["signals"] = signals
    response = client.post(
        "/api/v1/sites/shop/impressions",
        json=body,
        headers={"Origin": "https://www.shop.example", **headers},
    )
    assert response.status_code == 204
    rows = clickhouse_rows(
        app,
        "SELECT kind, site, language, policy_version, dnt, gpc, page_origin FROM consent_events",
    )
    assert rows == [
        ("impression", "shop", "fr", "2026-12-15", *expected, "https://www.shop.example")
    ]


@pytest.mark.parametrize(("site_id", "kept"), [("demo", True), ("shop", False)])
def test_the_domain_keeps_ip_prefix_and_ua_family_only_where_the_site_asks(app, site_id, kept):
    # The view skips parsing the UA for a site that keeps no family (a saving); the domain
    # function is what guarantees it: handed both, it stores them only if the site says so.
    site = app.extensions["sites"].get(site_id)
    body = decision() if site_id == "demo" else shop_decision()
    visit = records.Visit(
        signals=Signals(),
        region=resolve_region("DE", site),
        origin=None,
        ip_prefix="203.0.113.0/24",
        ua_family="Chrome",
        now=datetime.now(UTC),
    )
    with app.app_context():
        record = records.record_decision(
            site, DecisionIn.model_validate(body), visit, app.extensions["events"]
        ).record
    expected = ("203.0.113.0/24", "Chrome") if kept else (None, None)
    assert (record.ip_prefix, record.ua_family) == expected
    stored = _record(app, record.record_id)
    assert (stored.ip_prefix, stored.ua_family) == expected
    shipped = expected if kept else ("", "")
    assert clickhouse_rows(app, "SELECT ip_prefix, ua_family FROM consent_events") == [shipped]


# --- the ClickHouse rows ----------------------------------------------------------------

CUSTOM = NewRecord(
    record_id="0123456789abcdef0123456789abcdef",
    consent_id="ab" * 16,
    site_id="shop",
    action="custom",
    choices={"necessary": True, "analytics": True, "marketing": False},
    lifetime="persistent",
    policy_version="2026-12-15",
    texts_hash="c" * 64,
    language="fr",
    region="DE-BY",
    region_rule="gdpr",
    region_model="opt-in",
    dnt=True,
    gpc=False,
    ip_prefix=None,
    ua_family=None,
    page_origin=None,
    page_path="/cart",
    created_at=datetime(2026, 12, 1, 8, 30, 0, 123456, tzinfo=UTC),
    expires_at=None,
)


def test_a_decisions_event_row_names_every_column_exactly():
    # ClickHouse matches JSON keys to columns ignoring case, so only the row itself shows a
    # misspelt key; the row must never carry the record's proof-only fields either.
    assert records.decision_event(CUSTOM) == {
        "event_id": "01234567-89ab-cdef-0123-456789abcdef",
        "ts": "2026-12-01 08:30:00.123456",
        "site": "shop",
        "kind": "decision",
        "action": "custom",
        "consent_id": "ab" * 16,
        "granted": ["necessary", "analytics"],
        "denied": ["marketing"],
        "lifetime": "persistent",
        "policy_version": "2026-12-15",
        "language": "fr",
        "region": "DE-BY",
        "region_rule": "gdpr",
        "region_model": "opt-in",
        "dnt": 1,
        "gpc": 0,
        "ua_family": "",
        "ip_prefix": "",
        "page_origin": "",
    }


def test_an_impressions_event_row_names_every_column_exactly():
    site = load_sites(TWO_SITES).get("shop")
    visit = records.Visit(
        signals=Signals(dnt=False, gpc=True),
        region=resolve_region("US-NY", site),
        origin=None,
        ip_prefix="203.0.113.0/24",
        ua_family="Chrome",
        now=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    )
    assert records.impression_event(site, "fr", visit) == {
        "ts": "2026-12-01 08:30:00.000000",
        "site": "shop",
        "kind": "impression",
        "language": "fr",
        "policy_version": "2026-12-15",
        "region": "US-NY",
        "region_rule": "us",
        "region_model": "opt-out",
        "dnt": 0,
        "gpc": 1,
        "page_origin": "",
    }


def test_a_decision_reaches_clickhouse_with_every_field_of_its_record(app, client):
    answer = post(
        client,
        shop_decision(choices={"marketing": True}, language="fr", page="/cart"),
        {"DNT": "1", "X-Country-Code": "US-CA"},
    ).get_json()
    record = _record(app, answer["record_id"])
    [row] = clickhouse_rows(
        app,
        "SELECT toString(event_id), toString(ts), site, kind, action, consent_id, granted, denied, "
        "lifetime, policy_version, language, region, region_rule, region_model, dnt, gpc, "
        "ua_family, ip_prefix, page_origin FROM consent_events",
    )
    assert row == (
        str(uuid.UUID(record.record_id)),
        utc_text(record.created_at, sep=" ")[:23],  # milliseconds in ClickHouse
        "shop",
        "decision",
        "custom",
        record.consent_id,
        ["necessary", "marketing"],
        ["analytics"],
        "persistent",
        "2026-12-15",
        "fr",
        "US-CA",
        "california",
        "opt-in",
        1,
        0,
        "",
        "",
        SHOP_ORIGIN,
    )


# --- withdrawal -------------------------------------------------------------------------


def test_a_withdrawal_follows_the_newest_decision(app, client):
    first = post(client, shop_decision()).get_json()
    consent_id = first["consent_id"]
    post(client, shop_decision(consent_id=consent_id, lifetime="session", language="fr"))
    withdrawn = client.delete(f"/api/v1/consents/{consent_id}", headers={"Origin": SHOP_ORIGIN})
    assert withdrawn.status_code == 200
    record = _record(app, withdrawn.get_json()["record_id"])
    site = app.extensions["sites"].get("shop")
    assert (record.action, record.lifetime, record.language) == ("withdraw", "session", "fr")
    assert record.texts_hash == site.texts_hash("fr")
    assert record.choices == {"necessary": True, "analytics": False, "marketing": False}
    assert record.expires_at is None


def test_a_withdrawal_in_a_language_the_site_dropped_uses_its_default(make_app, tmp_path):
    before = make_app(SITES_FILE=TWO_SITES)
    consent_id = post(before.test_client(), shop_decision(language="fr")).get_json()["consent_id"]

    text = Path(TWO_SITES).read_text()
    start = text.index("[sites.shop.texts.fr]")
    assert "[sites." not in text[start + 1 :]  # the last table: cut to the end
    no_french = tmp_path / "no_french.toml"
    no_french.write_text(text[:start])
    after = make_app(SITES_FILE=str(no_french))
    withdrawn = after.test_client().delete(
        f"/api/v1/consents/{consent_id}", headers={"Origin": SHOP_ORIGIN}
    )
    assert withdrawn.status_code == 200
    record = _record(after, withdrawn.get_json()["record_id"])
    assert record.language == "en"
    assert record.texts_hash == after.extensions["sites"].get("shop").texts_hash("en")


# --- what the banner may say -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "action"),
    [
        (shop_decision(action="accept_all"), {}, "accept_all"),
        (shop_decision(action="custom"), {}, "custom"),
        (shop_decision(action="reject_all", choices={}), {}, "reject_all"),
        (shop_decision(action="dnt", choices={}), {"DNT": "1"}, "dnt"),
        (shop_decision(action="gpc", choices={}, signals={"gpc": True}), {}, "gpc"),
    ],
    ids=["accept_all", "custom", "reject_all", "dnt", "gpc-from-the-page"],
)
def test_an_action_the_banner_names_is_kept_when_it_fits(app, client, body, headers, action):
    response = post(client, body, headers)
    assert response.status_code == 201, response.get_json()
    assert _record(app, response.get_json()["record_id"]).action == action


@pytest.mark.parametrize(
    ("body", "headers", "code", "message"),
    [
        (
            shop_decision(choices={"tracking": True, "ads": True}),
            {},
            "unknown_category",
            "unknown categories for site 'shop': ads, tracking",
        ),
        (
            shop_decision(language="de"),
            {},
            "unknown_language",
            "language 'de' is not one of en, fr",
        ),
        (
            shop_decision(action="gpc", choices={}),
            {"DNT": "1"},
            "no_signal",
            "action gpc needs a Global Privacy Control signal",
        ),
        (
            shop_decision(action="dnt", choices={}),
            {"Sec-GPC": "1"},
            "no_signal",
            "action dnt needs a Do Not Track signal",
        ),
        (
            shop_decision(action="accept_all", choices={"analytics": True}),
            {},
            "inconsistent_action",
            "accept_all must grant every category",
        ),
        (
            shop_decision(action="withdraw"),
            {},
            "inconsistent_action",
            "withdraw must refuse every optional category",
        ),
        (
            shop_decision(policy_version="2026-11-01"),
            {},
            "policy_outdated",
            "policy version '2026-11-01' is outdated; the current one is '2026-12-15'",
        ),
    ],
    ids=[
        "unknown-categories",
        "unknown-language",
        "gpc-without-signal",
        "dnt-without-signal",
        "accept_all-refusing",
        "withdraw-granting",
        "outdated-policy",
    ],
)
def test_a_refused_decision_says_what_is_wrong(app, client, body, headers, code, message):
    response = post(client, body, headers)
    assert response.get_json()["error"] == {"code": code, "message": message}
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ConsentRecord)) == 0
