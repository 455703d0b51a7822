"""The fast lane answers /o/, /c/ and /b/ exactly as the Flask routes do (core.fastlane).

Two apps on one SQL store and one ClickHouse database: one with the lane (the default),
one with ``FAST_LANE=False``, where Flask serves every request. One table of requests —
valid, withdrawn, signalled, HEAD, forged and odd ones — goes through each, and must give
the same status, header list (in order), body, and the same logged events and drop
counters. A request the lane must leave to Flask is named so, and checked to be.
"""

import logging
import os
from dataclasses import dataclass, field

import pytest
from email_hits_support import (
    BROWSER,
    GMAIL_PROXY,
    age,
    api_key,
    links,
    mint,
    pixel_path,
    suppress,
)
from factories import clickhouse_rows, post_decision
from flask import request_started

from core.db import db
from pixel import tokens
from pixel.bursts import BurstTracker

KEYS = ["test-signing-key-0123456789abcdef"]  # conftest's
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
SAFE_LINKS = "40.107.1.1"  # Microsoft's scanner network (pixel.classify)


@dataclass
class Call:
    """One request of the table, and whether the lane answers it (else Flask does)."""

    method: str
    path: str
    lane: bool
    headers: dict[str, str] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)


@dataclass
class Served:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    by_flask: bool


@pytest.fixture
def apps(make_app):
    """The app with its fast lane, and the same app served by Flask alone."""
    built = {
        "lane": make_app(EMAIL_TRACKING_CONSENT="not_required"),
        "flask": make_app(EMAIL_TRACKING_CONSENT="not_required", FAST_LANE=False),
    }
    for app in built.values():
        # Every hit of the table "at once": bursts the same in both runs, however slow.
        app.extensions["pixel.hits"].bursts = BurstTracker(clock=lambda: 1000.0)
    return built


def _table(app) -> dict[str, Call]:
    """Mint the messages and consents the requests need; return the requests by name."""
    client, auth = app.test_client(), api_key(app)
    sent = mint(client, auth, email="ann@example.com", list="news")
    age(app, sent["message_id"])
    gone = mint(client, auth, recipient="crm-2", list="news")
    age(app, gone["message_id"])
    suppress(app, recipient="crm-2", list="news")
    denied = client.post(
        "/api/v1/recipients/crm-3/tracking", json={"consent": "denied"}, headers=auth
    )
    assert denied.status_code == 200
    untracked = mint(client, auth, recipient="crm-3")  # mode none: no pixel in the mail
    assert untracked["tracking"] == "none"
    consents = {}
    for granted in (True, False):
        choices = {"preferences": False, "analytics": granted, "marketing": False}
        answer = post_decision(client, choices=choices)
        assert answer.status_code == 201
        consents[granted] = answer.get_json()["consent_id"]

    message_id = sent["message_id"]
    opened = pixel_path(sent)
    token = opened[3:-4]
    payload, signature = token.rsplit(".", 1)
    link = links(sent)
    clicks = {
        "non-ASCII URL": tokens.sign_click(KEYS, message_id, "https://exämple.com/café?q=ü"),
        "withdrawn": links(gone)["Sale"][3:],
    }
    yes, no = consents[True], consents[False]
    person = {"User-Agent": APPLE_MAIL}
    return {
        # --- the pixel ---
        "open": Call("GET", opened, True, person),
        "open, HEAD": Call("HEAD", opened, True, person),
        "open, DNT": Call("GET", opened, True, person | {"DNT": "1"}),
        "open, GPC": Call("GET", opened, True, person | {"Sec-GPC": "1"}),
        "open, GPC not 1": Call("GET", opened, True, person | {"Sec-GPC": "yes"}),
        "open, Gmail's proxy": Call("GET", opened, True, {"User-Agent": GMAIL_PROXY}),
        "open, scanner network": Call("GET", opened, True, person, {"REMOTE_ADDR": SAFE_LINKS}),
        "open, no User-Agent": Call("GET", opened, True, {"User-Agent": ""}),
        "open, with a query": Call("GET", opened + "?utm_source=mail", True, person),
        "open, recipient unsubscribed": Call("GET", pixel_path(gone), True, person),
        "open, mode none": Call(
            "GET",
            f"/o/{tokens.sign_message(KEYS, tokens.OPEN, untracked['message_id'])}.gif",
            True,
            person,
        ),
        "forged signature": Call("GET", f"/o/{payload}.{'A' * len(signature)}.gif", True),
        "truncated": Call("GET", f"/o/{token[:-3]}.gif", True),
        "retired key": Call(
            "GET",
            f"/o/{tokens.sign_message(['retired-key-0123456789abcdef'], 'open', message_id)}.gif",
            True,
        ),
        "click token on the pixel": Call("GET", f"/o/{link['Sale'][3:]}.gif", True),
        "unknown message": Call(
            "GET", f"/o/{tokens.sign_message(KEYS, tokens.OPEN, '0' * 32)}.gif", True
        ),
        "garbage": Call("GET", "/o/hello-world.gif", True),
        "empty": Call("GET", "/o/.gif", True),
        "overlong": Call("GET", f"/o/{'A' * 5000}.gif", True),
        "overlong, HEAD": Call("HEAD", f"/o/{'A' * 5000}.gif", True),
        "non-ASCII": Call("GET", "/o/tökén-日本.gif", False),
        "slashes": Call("GET", "/o/a/b/c.gif", False),
        "double slash": Call("GET", "/o//x.gif", False),
        "percent-encoded nul": Call("GET", "/o/%00.gif", False),
        "upper-case suffix": Call("GET", "/o/x.GIF", False),
        "POST": Call("POST", opened, False),
        "OPTIONS": Call("OPTIONS", opened, False),
        # --- tracked links ---
        "click": Call("GET", link["Sale"], True, person),
        "click, HEAD": Call("HEAD", link["New"], True, person),
        "click, DNT": Call("GET", link["Blog"], True, person | {"DNT": "1"}),
        "click, non-ASCII URL": Call("GET", f"/c/{clicks['non-ASCII URL']}", True, person),
        "click, redirect parameter": Call(
            "GET", link["Sale"] + "?url=https://evil.example/", True, person
        ),
        "click, recipient unsubscribed": Call("GET", f"/c/{clicks['withdrawn']}", True, person),
        "honeypot": Call("GET", link["honeypot"], True, {"User-Agent": BROWSER}),
        "honeypot, HEAD": Call("HEAD", link["honeypot"], True, {"User-Agent": BROWSER}),
        "click, invalid token": Call("GET", "/c/hello-world", False),
        "click, open token": Call("GET", f"/c/{token}", False),
        "click, empty": Call("GET", "/c/", False),
        "click, slashes": Call("GET", "/c/a/b", False),
        "click, POST": Call("POST", link["Sale"], False),
        # --- the web beacon ---
        "page view": Call(
            "GET",
            f"/b/demo.gif?cid={yes}&p=https://shop.example.com/pricing?email=a@x.org",
            True,
            {"User-Agent": BROWSER},
        ),
        "page view, refused": Call("GET", f"/b/demo.gif?cid={no}&p=/", True),
        "page view, malformed id": Call("GET", f"/b/demo.gif?cid=../{yes}&p=/", True),
        "page view, no id": Call("GET", "/b/demo.gif?p=/", True),
        "page view, unknown site": Call("GET", f"/b/nowhere.gif?cid={yes}&p=/", True),
        "page view, DNT": Call("GET", f"/b/demo.gif?cid={yes}&p=/", True, {"DNT": "1"}),
        "page view, HEAD": Call("HEAD", f"/b/demo.gif?cid={yes}&p=/", True),
        "page view, encoded path": Call("GET", f"/b/demo.gif?cid={yes}&p=/caf%C3%A9+x", True),
        "page view, bad encoding": Call("GET", f"/b/demo.gif?cid={yes}&p=/%E9%ZZ", True),
        "page view, repeated id": Call("GET", f"/b/demo.gif?cid={no}&cid={yes}&p=/", True),
        "page view, raw non-UTF-8 query": Call(
            "GET", "/b/demo.gif", False, environ={"QUERY_STRING": f"cid={yes}&p=/\xe9"}
        ),
        "page view, no site": Call("GET", "/b/.gif", False),
    }


def _serve(app, calls: dict[str, Call]) -> dict[str, Served]:
    seen_by_flask: list[str] = []

    def dispatched(sender, **extra):
        seen_by_flask.append("x")

    client = app.test_client()
    served = {}
    with request_started.connected_to(dispatched, app):
        for name, call in calls.items():
            before = len(seen_by_flask)
            response = client.open(
                call.path,
                method=call.method,
                headers=call.headers,
                environ_overrides=call.environ,
            )
            served[name] = Served(
                response.status,
                list(response.headers.items()),
                response.get_data(),
                len(seen_by_flask) > before,
            )
    return served


LOGGED = {
    "email_events": (
        "SELECT * EXCEPT (event_id, ts) FROM email_events WHERE kind IN ('open', 'click')"
    ),
    "email_reclassified": "SELECT * EXCEPT (event_id, ts) FROM email_reclassified",
    "page_views": "SELECT * EXCEPT (event_id, ts) FROM page_views",
    "dropped_hits": "SELECT source, reason, sum(hits) FROM dropped_hits GROUP BY 1, 2",
}


def _logged(app) -> dict[str, list[str]]:
    return {
        table: sorted(repr(row) for row in clickhouse_rows(app, sql))
        for table, sql in LOGGED.items()
    }


def _added(before: list[str], after: list[str]) -> list[str]:
    rest = list(after)
    for row in before:
        rest.remove(row)
    return rest


def test_the_lane_answers_and_logs_as_the_flask_routes_do(apps):
    calls = _table(apps["lane"])
    by_lane = _serve(apps["lane"], calls)
    logged_by_lane = _logged(apps["lane"])
    by_flask = _serve(apps["flask"], calls)
    logged_by_flask = _logged(apps["flask"])

    for name, call in calls.items():
        lane, flask = by_lane[name], by_flask[name]
        assert flask.by_flask, name
        assert lane.by_flask is not call.lane, name
        assert (lane.status, lane.headers, lane.body) == (
            flask.status,
            flask.headers,
            flask.body,
        ), name

    # The dropped-hit counters are sums: the Flask run's are what it added to the lane's.
    lane_drops = logged_by_lane.pop("dropped_hits")
    flask_drops = logged_by_flask.pop("dropped_hits")
    assert _drop_counts(flask_drops) == {
        key: 2 * hits for key, hits in _drop_counts(lane_drops).items()
    }
    for table, rows in logged_by_lane.items():
        assert _added(rows, logged_by_flask[table]) == rows, table
    # The table exercises what it claims to: logged opens, clicks, page views, a burst.
    assert len(logged_by_lane["email_events"]) >= 8
    assert logged_by_lane["email_reclassified"]
    assert len(logged_by_lane["page_views"]) == 3
    assert {reason for _, reason in _drop_counts(lane_drops)} == {
        "head",
        "invalid",
        "opted_out",
        "signal",
    }


def _drop_counts(rows: list[str]) -> dict[tuple[str, str], int]:
    counts = {}
    for row in rows:
        source, reason, hits = eval(row)  # noqa: S307 (our own repr of a ClickHouse row)
        counts[(source, reason)] = hits
    return counts


def test_with_the_sql_store_down_both_answer_and_log_the_same(apps, caplog, tmp_path):
    calls = _table(apps["lane"])
    chosen = ["open", "open, HEAD", "click", "honeypot", "page view", "garbage"]
    path = tmp_path / "test.db"
    if not path.exists():
        pytest.skip("the SQL store is not a SQLite file here")
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()
    os.replace(path, tmp_path / "away.db")
    path.mkdir()  # a directory where the database was: every connection fails
    logged = {}
    for name, app in apps.items():
        hits = app.extensions["pixel.hits"]
        hits.messages = type(hits.messages)()  # nothing remembered from before
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pixel.hits"):
            served = _serve(app, {c: calls[c] for c in chosen})
        warnings = [r.getMessage() for r in caplog.records if r.name == "pixel.hits"]
        logged[name] = ({c: _plain(s) for c, s in served.items()}, warnings)
    assert logged["lane"] == logged["flask"]
    assert any("pixel hit not logged" in line for line in logged["lane"][1])
    assert any("beacon hit not logged" in line for line in logged["lane"][1])


def _plain(served: Served) -> tuple:
    return served.status, served.headers, served.body
