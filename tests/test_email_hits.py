"""Pixel, tracked-link and web-beacon hits over the real stores (SQL and chdb).

Always the GIF, byte for byte and header for header; an open or click logged only for a
valid token of a tracked message whose recipient, read at hit time, still allows it and
whose request carries no DNT/GPC signal; every other hit counted by its reason.
"""

import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from email_hits_support import (
    BROWSER,
    EMAIL,
    EVENTS,
    age,
    api_key,
    assert_gif,
    drops,
    hit_events,
    links,
    mint,
    pixel_path,
    suppress,
    tracked_id,
)
from events_support import ROOT
from factories import POLICY, clickhouse_rows, post_decision
from sqlalchemy import update

from consent.models import ConsentRecord
from core.db import db
from pixel import identity, tokens, trackable

KEYS = ["test-signing-key-0123456789abcdef"]  # conftest's
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
PERSON = {"User-Agent": APPLE_MAIL}


@pytest.fixture
def app(make_app):
    # Individual mode for recipients whose consent is unknown, as most installs run.
    return make_app(EMAIL_TRACKING_CONSENT="not_required")


@pytest.fixture
def auth(app):
    return api_key(app)


@pytest.fixture
def sent(app, client, auth):
    """A message sent an hour ago to crm-1 (ann@example.com): its answer from the API."""
    answer = mint(client, auth, email="ann@example.com", list="news")
    age(app, answer["message_id"])
    return answer


def _open(client, answer, **headers):
    return client.get(pixel_path(answer), headers=PERSON | headers)


def _click(client, answer, text="Sale", **headers):
    return client.get(links(answer)[text], headers=PERSON | headers)


# --- logged hits ---------------------------------------------------------------------


def test_an_open_and_a_click_are_logged_with_their_class(app, client, sent):
    assert_gif(_open(client, sent))
    response = _click(client, sent)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/sale"
    assert response.headers["Cache-Control"] == "no-store"

    with app.app_context():
        pseudonym = identity.pseudonym(KEYS, "demo", "crm-1")
    rows = hit_events(app)
    assert rows == [
        (
            "open",
            sent["message_id"],
            pseudonym,
            "individual",
            "human",
            ["ua:mail_client"],
            "",
            APPLE_MAIL,
            "127.0.0.0/24",
            "dec",
        ),
        (
            "click",
            sent["message_id"],
            pseudonym,
            "individual",
            "human",
            ["ua:mail_client"],
            "https://shop.example.com/sale",
            APPLE_MAIL,
            "127.0.0.0/24",
            "dec",
        ),
    ]
    assert drops(app) == {}


def test_open_events_carry_the_send_time_list_and_site(app, client, sent):
    _open(client, sent)
    [(site, list_name, sent_at, ts)] = clickhouse_rows(
        app, "SELECT site, list, sent_at, ts FROM email_events WHERE kind = 'open'"
    )
    assert (site, list_name) == ("demo", "news")
    assert 3590 < (ts - sent_at).total_seconds() < 3700


def test_aggregate_mode_events_carry_no_recipient(make_app):
    app = make_app()  # consent required: unknown consent is counted in aggregate
    client = app.test_client()
    answer = mint(client, api_key(app), email="ann@example.com")
    assert answer["tracking"] == "aggregate"
    anonymous = tracked_id(answer)
    assert anonymous != answer["message_id"]
    age(app, anonymous)
    assert_gif(_open(client, answer))
    assert _click(client, answer).status_code == 302

    rows = hit_events(app)
    assert [
        (kind, message_id, recipient, tracking)
        for kind, message_id, recipient, tracking, *_ in rows
    ] == [
        ("open", anonymous, "", "aggregate"),
        ("click", anonymous, "", "aggregate"),
    ]
    # Nor anything that could single the reader out: no User-Agent, no address prefix.
    assert [(user_agent, prefix) for *_, user_agent, prefix, _ in rows] == [("", ""), ("", "")]
    assert [agent_class for *_, agent_class, _, _, _, _, _ in rows] == ["human", "human"]


# --- invalid tokens: always the GIF, nothing logged ---------------------------------


CLICK_TOKEN = "click token (another salt)"  # a good click token, but no open token


def _bad_tokens() -> dict[str, str]:
    message_id = uuid.uuid4().hex
    good = tokens.sign_message(KEYS, tokens.OPEN, message_id)
    payload, signature = good.rsplit(".", 1)
    other = tokens.sign_message(KEYS, tokens.OPEN, uuid.uuid4().hex)
    return {
        "forged signature": f"{payload}.{'A' * len(signature)}",
        "signature of another token": f"{payload}.{other.rsplit('.', 1)[1]}",
        "truncated": good[:-3],
        "no signature": payload,
        CLICK_TOKEN: tokens.sign_click(KEYS, message_id, "https://x.example/"),
        "unsubscribe token": tokens.sign_message(KEYS, tokens.UNSUBSCRIBE, message_id),
        "preferences token": tokens.sign_message(KEYS, tokens.PREFERENCES, message_id),
        "retired key": tokens.sign_message(
            ["retired-key-0123456789abcdef"], tokens.OPEN, message_id
        ),
        "signed, but no message id": tokens.sign_message(KEYS, tokens.OPEN, "not-a-message"),
        "signed, unknown message": good,
        "garbage": "hello-world",
        "empty": "",
        "very long": "A" * 5000,
        "non-ascii": "tökén-ü-日本",
        "path traversal": "../../../etc/passwd",
        "sql": "' OR 1=1 --",
        "compressed form": ".eJyrVkrLz1eyUkpKLFKqBQApJQVZ" + "." + signature,
        "percent-encoded nul": "%00",
    }


BAD_TOKENS = _bad_tokens()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_bad_token_gets_the_gif_and_logs_nothing(app, client, sent, method):
    for name, token in BAD_TOKENS.items():
        response = client.open(f"/o/{token}.gif", method=method, headers=PERSON)
        assert_gif(response, head=method == "HEAD"), name
        # The same token on the link endpoint: the 404 page, never a redirect.
        if method == "GET" and name != CLICK_TOKEN:
            response = client.get(f"/c/{token}", headers=PERSON)
            assert response.status_code == 404, name
            assert "Location" not in response.headers, name
            assert response.mimetype == "text/html", name
    assert hit_events(app) == []
    expected = {("email_open", "head"): len(BAD_TOKENS)}
    if method == "GET":
        expected = {
            ("email_open", "invalid"): len(BAD_TOKENS),
            ("email_click", "invalid"): len(BAD_TOKENS) - 1,
        }
    assert drops(app) == expected


def test_a_head_answers_the_same_headers_and_logs_nothing(app, client, sent):
    assert_gif(client.head(pixel_path(sent), headers=PERSON), head=True)
    assert hit_events(app) == []
    assert drops(app) == {("email_open", "head"): 1}


def test_a_pixel_under_another_path_form_is_still_the_gif(app, client):
    assert_gif(client.get("/o/a/b/c.gif"))
    assert_gif(client.get("/o/.gif"))
    assert_gif(client.get("/o/x.gif?utm_source=mail"))


# --- withdrawal after the send: read at hit time ---------------------------------------


def _deny_tracking(app, client, auth):
    response = client.post(
        "/api/v1/recipients/crm-1/tracking", json={"consent": "denied"}, headers=auth
    )
    assert response.status_code == 200


WITHDRAWALS = {
    "unsubscribed from the list": lambda app, client, auth: suppress(
        app, recipient="crm-1", list="news"
    ),
    "unsubscribed from all": lambda app, client, auth: suppress(app, recipient="crm-1", list="*"),
    "unsubscribed by address only": lambda app, client, auth: suppress(
        app, email_hash=identity.email_hash(KEYS, "ANN@example.com"), list="*"
    ),
    "opted out of tracking": lambda app, client, auth: suppress(
        app, recipient="crm-1", kind="tracking_optout", list="*"
    ),
    "denied tracking through the API": _deny_tracking,
}


@pytest.mark.parametrize("withdraw", WITHDRAWALS.values(), ids=WITHDRAWALS.keys())
def test_a_withdrawal_after_the_send_stops_logging_but_not_the_redirect(
    app, client, auth, sent, withdraw
):
    _open(client, sent)  # the message is now known to this process
    withdraw(app, client, auth)

    assert_gif(_open(client, sent))
    response = _click(client, sent)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/sale"

    assert [row[0] for row in hit_events(app)] == ["open"]  # only the one before
    assert drops(app) == {("email_open", "opted_out"): 1, ("email_click", "opted_out"): 1}


def test_a_withdrawal_through_another_worker_is_seen_at_the_next_hit(make_app):
    # Two apps on one SQL store stand for two gunicorn workers: nothing is cached that
    # the other worker's withdrawal would have to invalidate.
    first = make_app(EMAIL_TRACKING_CONSENT="not_required")
    second = make_app(EMAIL_TRACKING_CONSENT="not_required")
    auth = api_key(first)
    answer = mint(first.test_client(), auth, email="ann@example.com")
    age(first, answer["message_id"])
    assert_gif(_open(first.test_client(), answer))
    _deny_tracking(second, second.test_client(), auth)
    assert_gif(_open(first.test_client(), answer))
    assert [row[0] for row in hit_events(first)] == ["open"]
    assert drops(first) == {("email_open", "opted_out"): 1}


def test_a_lifted_or_unrelated_suppression_does_not_stop_logging(app, client, auth, sent):
    suppress(app, recipient="crm-1", list="other-list")
    suppress(app, recipient="crm-1", list="news", site="shop")
    suppress(app, recipient="crm-1", list="*", lifted_at=datetime.now(UTC))
    _open(client, sent)
    response = client.post(
        "/api/v1/recipients/crm-1/tracking", json={"consent": "granted"}, headers=auth
    )
    assert response.status_code == 200
    _click(client, sent)
    assert [row[0] for row in hit_events(app)] == ["open", "click"]


def test_lifting_an_opt_out_lets_later_hits_be_logged_again(app, client, auth, sent):
    _deny_tracking(app, client, auth)
    _open(client, sent)
    response = client.post(
        "/api/v1/recipients/crm-1/tracking", json={"consent": "granted"}, headers=auth
    )
    assert response.status_code == 200
    _open(client, sent)
    assert [row[0] for row in hit_events(app)] == ["open"]
    assert drops(app) == {("email_open", "opted_out"): 1}


@pytest.mark.parametrize("hash_count", [0, 1, 2])
def test_the_withdrawal_read_finds_suppressions_by_index(app, hash_count):
    # Every hit runs it: a search by the site alone reads all of a site's suppressions
    # (15 ms a hit at 50,000 of them). SQLite's plan names the index and its columns.
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by its statistics")
    compiled = trackable._withdrawal(hash_count).compiled(engine.dialect)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + compiled.sql, (None,) * len(compiled.order or ())
        ).all()
    steps = [step for *_, step in plan if "suppressions" in step]
    assert len(steps) == 2 + hash_count, plan
    assert all("recipient=?" in step or "email_hash=?" in step for step in steps), plan


# --- privacy signals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "logged"),
    [
        ({"DNT": "1"}, False),
        ({"Sec-GPC": "1"}, False),
        ({"DNT": "1", "Sec-GPC": "1"}, False),
        ({"DNT": "0", "Sec-GPC": "0"}, True),
        ({"Sec-GPC": "yes"}, True),
    ],
)
def test_a_privacy_signal_stops_logging_but_not_the_redirect(app, client, sent, headers, logged):
    assert_gif(_open(client, sent, **headers))
    response = _click(client, sent, **headers)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/sale"
    assert len(hit_events(app)) == (2 if logged else 0)
    expected = {} if logged else {("email_open", "signal"): 1, ("email_click", "signal"): 1}
    assert drops(app) == expected


# --- links -------------------------------------------------------------------------


def test_a_link_redirects_only_to_the_url_it_was_signed_with(app, client, sent):
    token = links(sent)["Sale"][3:]
    signature = token.rsplit(".", 1)[1]
    other = tokens.sign_click(KEYS, sent["message_id"], "https://evil.example/")
    tampered = {
        "another URL's payload, this signature": f"{other.rsplit('.', 1)[0]}.{signature}",
        "a URL appended": f"{token}https://evil.example/",
        "an open token": pixel_path(sent)[3:-4],
        "a redirect parameter": f"{token}?url=https://evil.example/",
    }
    for name, path in tampered.items():
        response = client.get(f"/c/{path}", headers=PERSON)
        if name == "a redirect parameter":
            # The query is not the token: the signed URL, and only it.
            assert response.headers["Location"] == "https://shop.example.com/sale", name
            continue
        assert response.status_code == 404, name
        assert "Location" not in response.headers, name
    assert drops(app) == {("email_click", "invalid"): 3}


def test_a_signed_url_no_browser_could_follow_is_an_invalid_link(app, client, auth, sent):
    # The render step never wraps such a URL (below), but a token signed elsewhere with our
    # keys could carry one: a 404 page and an invalid drop, never a 500 after a logged click.
    token = tokens.sign_click(KEYS, sent["message_id"], "https://x.example:99999/")
    for method in (client.get, client.head):
        response = method(f"/c/{token}", headers=PERSON)
        assert response.status_code == 404
        assert "Location" not in response.headers
    assert drops(app) == {("email_click", "invalid"): 2}
    assert app.extensions["events"].flush(timeout=10)
    assert [row[0] for row in clickhouse_rows(app, EVENTS)] == []
    rendered = mint(
        client, auth, recipient="crm-port", html='<a href="https://x.example:99999/">x</a>'
    )
    assert 'href="https://x.example:99999/"' in rendered["html"]


def test_a_non_ascii_link_redirects_to_its_encoded_form(app, client, auth):
    html = '<html><body><a href="https://exämple.com/café?q=ü">x</a></body></html>'
    response = client.post(
        "/api/v1/messages/render",
        json={"campaign": "dec", "recipient": "crm-9", "html": html},
        headers=auth,
    )
    answer = response.get_json() | {"html": response.get_json()["html"].replace(">x<", ">Go<")}
    response = client.get(links(answer)["Go"], headers=PERSON)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://xn--exmple-cua.com/caf%C3%A9?q=%C3%BC"


def test_the_honeypot_link_leads_nowhere(app, client, sent):
    response = client.get(links(sent)["honeypot"], headers={"User-Agent": BROWSER})
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert response.mimetype == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Robots-Tag"] == "noindex"


# --- stores down -------------------------------------------------------------------


def test_with_the_sql_store_down_the_gif_and_the_redirect_still_answer(app, client, sent, tmp_path):
    with app.app_context():
        db.engine.dispose()
    path = tmp_path / "test.db"
    if path.exists():
        os.replace(path, tmp_path / "away.db")
        path.mkdir()  # a directory where the database was: every connection fails
    else:
        pytest.skip("the SQL store is not a SQLite file here")
    app.extensions["pixel.hits"].messages = type(app.extensions["pixel.hits"].messages)()
    assert_gif(_open(client, sent))
    assert_gif(client.head(pixel_path(sent)), head=True)
    response = _click(client, sent)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/sale"
    assert_gif(client.get("/b/demo.gif?cid=" + "a" * 32))
    shutil.rmtree(path)
    os.replace(tmp_path / "away.db", path)
    assert hit_events(app) == []


def test_with_a_full_spool_the_gif_still_answers_and_the_drop_is_counted(make_app):
    app = make_app(EMAIL_TRACKING_CONSENT="not_required")
    client = app.test_client()
    answer = mint(client, api_key(app))
    age(app, answer["message_id"])
    pipeline = app.extensions["events"]
    pipeline.max_bytes = 0  # over budget from now on
    assert_gif(_open(client, answer))
    assert _click(client, answer).status_code == 302
    pipeline.max_bytes = 64 * 1024 * 1024
    assert hit_events(app) == []
    assert drops(app) == {("email_open", "spool_full"): 1, ("email_click", "spool_full"): 1}


def test_with_clickhouse_down_hits_wait_in_the_spool(make_app, tmp_path):
    from events_support import closed_port_url

    app = make_app(EMAIL_TRACKING_CONSENT="not_required")
    client = app.test_client()
    answer = mint(client, api_key(app))
    app.extensions["events"].clickhouse.close()
    down = make_app(
        EMAIL_TRACKING_CONSENT="not_required",
        CLICKHOUSE_URL=closed_port_url(),
        DATA_DIR=str(tmp_path / "down"),
    )
    age(down, answer["message_id"])
    assert_gif(_open(down.test_client(), answer))
    spooled = b"".join(p.read_bytes() for p in (tmp_path / "down" / "spool").rglob("*.spool"))
    assert spooled.count(b"email_events\t") == 1
    assert answer["message_id"].encode() in spooled


# --- the web beacon ----------------------------------------------------------------


def _consent(client, analytics: bool) -> str:
    response = post_decision(
        client, choices={"preferences": False, "analytics": analytics, "marketing": False}
    )
    assert response.status_code == 201
    return response.get_json()["consent_id"]


def _page_views(app) -> list[tuple]:
    return clickhouse_rows(app, "SELECT site, consent_id, path, ua_family FROM page_views")


def test_a_page_view_is_logged_while_the_consent_grants_analytics(app, client):
    consent_id = _consent(client, analytics=True)
    response = client.get(
        f"/b/demo.gif?cid={consent_id}&p=https://shop.example.com/pricing?email=ann@x.org#top",
        headers={"User-Agent": BROWSER},
    )
    assert_gif(response)
    assert _page_views(app) == [("demo", consent_id, "/pricing", "Chrome")]


def test_a_page_view_after_withdrawal_is_not_logged(app, client):
    consent_id = _consent(client, analytics=True)
    response = client.delete(
        f"/api/v1/consents/{consent_id}", headers={"Origin": "http://localhost:5173"}
    )
    assert response.status_code == 200
    assert_gif(client.get(f"/b/demo.gif?cid={consent_id}&p=/"))
    assert _page_views(app) == []
    assert drops(app) == {("web_beacon", "opted_out"): 1}


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("refused", "opted_out"),
        ("unknown id", "opted_out"),
        ("malformed id", "invalid"),
        ("no id", "invalid"),
        ("unknown site", "invalid"),
        ("DNT", "signal"),
        ("GPC", "signal"),
        ("HEAD", "head"),
    ],
)
def test_a_page_view_without_analytics_consent_is_not_logged(app, client, case, reason):
    granted = _consent(client, analytics=True)
    refused = _consent(client, analytics=False)
    site, cid, headers, method = "demo", granted, {}, "GET"
    if case == "refused":
        cid = refused
    elif case == "unknown id":
        cid = uuid.uuid4().hex
    elif case == "malformed id":
        cid = "../" + granted
    elif case == "no id":
        cid = ""
    elif case == "unknown site":
        site = "nowhere"
    elif case in ("DNT", "GPC"):
        headers = {"DNT": "1"} if case == "DNT" else {"Sec-GPC": "1"}
    else:
        method = "HEAD"
    response = client.open(f"/b/{site}.gif?cid={cid}&p=/", method=method, headers=headers)
    assert_gif(response, head=method == "HEAD")
    assert _page_views(app) == []
    assert drops(app) == {("web_beacon", reason): 1}


def test_an_email_is_rendered_with_three_links_and_a_honeypot(sent):
    # The other tests rely on this shape of the rendered email.
    assert set(links(sent)) == {"Sale", "New", "Blog", "honeypot"}
    assert EMAIL.count("<a ") == 4


def test_a_consent_under_an_older_policy_grants_nothing_until_renewed(make_app, tmp_path):
    before = make_app()
    consent_id = _consent(before.test_client(), analytics=True)
    bundled = (ROOT / "consent" / "data" / "sites.toml").read_text()
    sites = tmp_path / "bumped.toml"
    sites.write_text(
        bundled.replace(f'policy_version = "{POLICY}"', 'policy_version = "2027-01-01"')
    )
    after = make_app(SITES_FILE=str(sites))
    assert_gif(after.test_client().get(f"/b/demo.gif?cid={consent_id}&p=/"))
    assert _page_views(after) == []
    assert drops(after) == {("web_beacon", "opted_out"): 1}


def test_an_expired_consent_grants_nothing(app, client):
    consent_id = _consent(client, analytics=True)
    with app.app_context():
        db.session.execute(
            update(ConsentRecord)
            .where(ConsentRecord.consent_id == consent_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    assert_gif(client.get(f"/b/demo.gif?cid={consent_id}&p=/"))
    assert _page_views(app) == []
    assert drops(app) == {("web_beacon", "opted_out"): 1}
