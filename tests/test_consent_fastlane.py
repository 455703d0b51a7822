"""The fast lane records decisions exactly as the Flask view does (consent.lane).

Two apps on one SQL store and one ClickHouse database: one with the lane (the default),
one with ``FAST_LANE=False``, where Flask serves every request. One table of decision
requests — plain, signalled, continued, idempotent, from both sites, and every kind the
lane must leave to Flask — goes through each. Per request, both must give the same status,
header list (in order) and body once the values that differ by nature (ids, times,
signatures) are masked, and store the same record (or none); in the end both have emitted
one decision event per record, and every chain still verifies.
"""

import json
import re
from dataclasses import dataclass, field

import pytest
from factories import ORIGIN, clickhouse_rows, decision, random_hex
from flask import request_started
from two_sites import CHROME, SHOP_ORIGIN, TWO_SITES, shop_decision

from consent.chain import verify_chain
from consent.models import ConsentRecord
from core.db import db

# Fields that differ between two records of the same request by nature.
_UNIQUE = {"id", "record_id", "consent_id", "seq", "created_at", "expires_at", "prev_hash", "hash"}
_MASKS = [
    (re.compile(rb"[A-Za-z0-9_-]{40,}\.[A-Za-z0-9_-]{27}"), b"<receipt>"),
    (re.compile(rb"\b[0-9a-f]{64}\b"), b"<hash>"),
    (re.compile(rb"\b[0-9a-f]{32}\b"), b"<id>"),
    (re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"), b"<time>"),
    (re.compile(rb"(consentry=)[^;]+"), rb"\1<cookie>"),  # set by the view in both runs
    (re.compile(rb"(Expires=)[^;]+"), rb"\1<date>"),
    (re.compile(rb"(Max-Age=)\d+"), rb"\1<n>"),
]


@dataclass
class Call:
    """One request of the table, and whether the lane answers it (else Flask does)."""

    body: bytes
    lane: bool
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/api/v1/consents"
    method: str = "POST"
    environ: dict[str, str] = field(default_factory=dict)
    cookie: str | None = None  # the value of a ``consentry`` cookie the client sends


@dataclass
class Served:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    by_flask: bool
    stored: list[dict]  # the records this request added, without their unique fields


@pytest.fixture
def apps(make_app):
    """The app with its fast lane, and the same app served by Flask alone."""
    return {
        "lane": make_app(SITES_FILE=TWO_SITES),
        "flask": make_app(SITES_FILE=TWO_SITES, FAST_LANE=False),
    }


def _json(body: dict) -> bytes:
    return json.dumps(body).encode()


def _table(app, run: str) -> dict[str, Call]:
    """The requests, with this run's own consent ids and Idempotency-Keys."""
    client = app.test_client()
    earlier = client.post("/api/v1/consents", json=decision(), headers={"Origin": ORIGIN})
    consent_id = earlier.get_json()["consent_id"]
    shop = {"Origin": SHOP_ORIGIN}
    page = {"Origin": ORIGIN}
    plain = _json(decision())
    key = f'"{run}-{random_hex()}"'
    reused = f"{run}-reused"
    return {
        # --- the lane's ---
        "plain": Call(plain, True, page),
        "accept all, region, page, browser": Call(
            _json(decision(page="/pricing?x=é", action="accept_all")),
            True,
            page | {"X-Country-Code": "de-by", "User-Agent": CHROME},
        ),
        "reject all, session": Call(
            _json(decision(choices={}, lifetime="session", action="reject_all")),
            True,
            page | {"CF-IPCountry": "US", "X-Country-Code": "FR"},
        ),
        "GPC header": Call(
            _json(decision(choices={"analytics": False}, action="gpc")),
            True,
            page | {"Sec-GPC": "1", "DNT": "1"},
        ),
        "GPC from the page": Call(
            _json(decision(choices={}, action="gpc", signals={"gpc": True})), True, page
        ),
        "DNT not 1": Call(_json(decision()), True, page | {"DNT": "yes"}),
        "continued consent id": Call(_json(decision(consent_id=consent_id)), True, page),
        "unknown consent id": Call(_json(decision(consent_id=random_hex())), True, page),
        "shop, proof options off": Call(
            _json(shop_decision()), True, shop | {"User-Agent": CHROME}
        ),
        "demo's consent id on shop": Call(_json(shop_decision(consent_id=consent_id)), True, shop),
        "no Origin": Call(plain, True),
        "text/plain": Call(plain, True, page | {"Content-Type": "text/plain;charset=UTF-8"}),
        "JSON with a charset": Call(
            plain, True, page | {"Content-Type": "application/json; charset=utf-8"}
        ),
        "IPv6 visitor": Call(plain, True, page, environ={"REMOTE_ADDR": "2001:db8:7:8::1"}),
        "no address": Call(plain, True, page, environ={"REMOTE_ADDR": ""}),
        "Idempotency-Key": Call(plain, True, page | {"Idempotency-Key": key}),
        "Idempotency-Key again": Call(plain, True, page | {"Idempotency-Key": key}),
        "non-ASCII page": Call(_json(decision(page="/café/日本")), True, page),
        # --- Flask's ---
        "a query string": Call(plain, False, page, path="/api/v1/consents?x=1"),
        "a cookie": Call(plain, False, page, cookie="x"),
        "a page on this host": Call(plain, False, {"Origin": "http://localhost"}),
        "a form": Call(
            b"site=demo", False, page | {"Content-Type": "application/x-www-form-urlencoded"}
        ),
        "no content type": Call(plain, False, page | {"Content-Type": ""}),
        "chunked": Call(plain, False, page, environ={"HTTP_TRANSFER_ENCODING": "chunked"}),
        "too long": Call(_json(decision(page="/" + "x" * 20000)), False, page),
        "malformed": Call(b'{"site": "demo",', False, page),
        "empty": Call(b"", False, page),
        "duplicate key": Call(plain[:-1] + b', "site": "shop"}', False, page),
        "unknown field": Call(_json(decision(extra=1)), False, page),
        "unknown site": Call(_json(decision(site="nowhere")), False, page),
        "origin not allowed": Call(plain, False, {"Origin": "https://evil.example"}),
        "shop from demo's origin": Call(_json(shop_decision()), False, page),
        "unknown category": Call(_json(decision(choices={"ads": True})), False, page),
        "unknown language": Call(_json(decision(language="xx")), False, page),
        "outdated policy": Call(_json(decision(policy_version="2020-01-01")), False, page),
        "inconsistent action": Call(_json(decision(action="reject_all")), False, page),
        "gpc without a signal": Call(_json(decision(choices={}, action="gpc")), False, page),
        "bad Idempotency-Key": Call(plain, False, page | {"Idempotency-Key": "a b"}),
        "first use of a key": Call(plain, True, page | {"Idempotency-Key": reused}),
        "a key reused with another body": Call(
            _json(decision(lifetime="session")), False, page | {"Idempotency-Key": reused}
        ),
        "trailing slash": Call(plain, False, page, path="/api/v1/consents/"),
        "PUT": Call(plain, False, page, method="PUT"),
    }


def _records(app) -> list[ConsentRecord]:
    with app.app_context():
        return list(db.session.scalars(db.select(ConsentRecord).order_by(ConsentRecord.id)))


def _content(record: ConsentRecord) -> dict:
    columns = ConsentRecord.__table__.columns
    return {c.key: getattr(record, c.key) for c in columns if c.key not in _UNIQUE}


def _serve(app, calls: dict[str, Call]) -> dict[str, Served]:
    seen_by_flask: list[str] = []

    def dispatched(sender, **extra):
        seen_by_flask.append("x")

    client = app.test_client()
    served = {}
    with request_started.connected_to(dispatched, app):
        for name, call in calls.items():
            before, known = len(seen_by_flask), len(_records(app))
            headers = {"Content-Type": "application/json"} | call.headers
            if call.cookie is not None:
                client.set_cookie("consentry", call.cookie)
            response = client.open(
                call.path,
                method=call.method,
                data=call.body,
                headers=headers,
                environ_overrides=call.environ,
            )
            client.delete_cookie("consentry")
            served[name] = Served(
                response.status,
                list(response.headers.items()),
                response.get_data(),
                len(seen_by_flask) > before,
                [_content(r) for r in _records(app)[known:]],
            )
    return served


def _masked(data: bytes) -> bytes:
    for pattern, mask in _MASKS:
        data = pattern.sub(mask, data)
    return data


def _plain(served: Served) -> tuple:
    headers = [(n, _masked(v.encode()).decode()) for n, v in served.headers]
    return served.status, headers, _masked(served.body), served.stored


def test_the_lane_records_and_answers_as_the_view_does(apps):
    by = {}
    for run, app in apps.items():
        by[run] = _serve(app, _table(app, run))

    calls = _table(apps["lane"], "check")  # the names and whether each is the lane's
    for name, call in calls.items():
        lane, flask = by["lane"][name], by["flask"][name]
        assert flask.by_flask, name
        assert lane.by_flask is not call.lane, name
        assert _plain(lane) == _plain(flask), name

    lane = by["lane"]
    # The table exercises what it claims to: records stored through the lane, a replay,
    # a consent id continued, refusals of every kind left to Flask.
    assert lane["plain"].status == "201 CREATED"
    assert len(lane["plain"].stored) == 1
    assert dict(lane["Idempotency-Key again"].headers)["Idempotent-Replayed"] == "true"
    assert lane["Idempotency-Key again"].stored == []
    assert {s.status[:3] for s in lane.values()} >= {"201", "400", "403", "404", "409", "413"}
    assert {s.status[:3] for s in lane.values()} >= {"415", "422", "405"}
    assert lane["shop, proof options off"].stored[0]["ua_family"] is None
    assert lane["IPv6 visitor"].stored[0]["ip_prefix"] == "2001:db8:7::/48"


def test_continued_and_replayed_ids_are_the_callers_own(apps):
    client = apps["lane"].test_client()
    headers = {"Origin": ORIGIN, "Idempotency-Key": random_hex()}
    first = client.post("/api/v1/consents", json=decision(), headers=headers).get_json()
    again = client.post("/api/v1/consents", json=decision(), headers=headers).get_json()
    assert again == first
    body = decision(consent_id=first["consent_id"], choices={})
    continued = client.post("/api/v1/consents", json=body, headers={"Origin": ORIGIN})
    assert continued.get_json()["consent_id"] == first["consent_id"]
    assert continued.get_json()["record_id"] != first["record_id"]


def test_every_decision_has_its_event_and_the_chains_hold(apps):
    for run, app in apps.items():
        _serve(app, _table(app, run))
    app = apps["lane"]
    records = {r.record_id for r in _records(app)}
    clickhouse_rows(apps["flask"], "SELECT 1")  # both apps' spools shipped
    rows = clickhouse_rows(app, "SELECT event_id FROM consent_events WHERE kind = 'decision'")
    assert {str(event_id).replace("-", "") for (event_id,) in rows} == records
    with app.app_context():
        for site in ("demo", "shop"):
            assert verify_chain(site).valid, site


def test_an_answer_that_fails_after_the_commit_is_a_500_not_a_second_record(make_app):
    # Without a signing key the receipt cannot be signed, after the record is committed:
    # the view answers Flask's 500; the lane must answer the same, and not hand the
    # request to Flask, which would record the decision again.
    served = {}
    for run, lane in (("lane", True), ("flask", False)):
        app = make_app(FAST_LANE=lane, TESTING=False)
        app.config["SECRET_KEYS"] = []
        before = len(_records(app))
        response = app.test_client().post(
            "/api/v1/consents", json=decision(), headers={"Origin": ORIGIN}
        )
        served[run] = (response.status, list(response.headers.items()), response.get_data())
        assert len(_records(app)) == before + 1, run
    assert served["lane"] == served["flask"]
    assert served["lane"][0] == "500 INTERNAL SERVER ERROR"
